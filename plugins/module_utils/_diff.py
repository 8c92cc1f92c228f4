# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""Track per-facet differences between the current and the desired state."""

from __future__ import annotations

import copy

REDACTED = "<redacted>"


class DifferenceTracker:
    """Collect (facet, before, after) rows; report the changed facets and a diff.

    Pass secret=True for write-only values: the diff then shows REDACTED on both sides
    so that a change is visible without its value.
    """

    def __init__(self):
        self._rows = []

    def add(self, facet, before, after, secret=False):
        if secret:
            before = None if before is None else REDACTED
            after = None if after is None else REDACTED
        self._rows.append((facet, copy.deepcopy(before), copy.deepcopy(after)))

    @property
    def changed_facets(self):
        return [row[0] for row in self._rows]

    def __bool__(self):
        return bool(self._rows)

    def before_after(self, before_base=None, after_base=None):
        """Return (before, after) dicts: the bases overlaid with the tracked rows."""
        before = copy.deepcopy(before_base) if before_base is not None else {}
        after = copy.deepcopy(after_base) if after_base is not None else {}
        for facet, old, new in self._rows:
            before[facet] = old
            after[facet] = new
        return before, after

    def module_result(self, resource_key, before, after, with_diff):
        """exit_json arguments: changed, changed_facets, the resulting resource and (diff mode) the diff."""
        result = {"changed": bool(self), "changed_facets": self.changed_facets, resource_key: after}
        if with_diff:
            old, new = self.before_after(before or {}, after or {})
            result["diff"] = {"before": old, "after": new}
        return result
