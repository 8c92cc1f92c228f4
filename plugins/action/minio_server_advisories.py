# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run koprogo.storage.minio_server_advisories inside the controller's Ansible process.

The check only compares data the role already holds (no host access), so starting a module for it
cost a Python start on every converge; this action plugin returns the same result and warning.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.koprogo.storage.plugins.module_utils._advisories import (
    ARGUMENT_SPEC,
    PIN_KEYS,
    assess,
    warning_text,
)


class ActionModule(ActionBase):
    """Same options and result as the module (plugins/modules/minio_server_advisories.py)."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            pin, rows, warned = assess(args["advisories"], args["pins"], args["build"], args["features"],
                                       args["acknowledged"])
        except ValueError as exc:
            return dict(result, failed=True, msg=str(exc))
        if warned:
            result.setdefault("warnings", []).append(warning_text(args["build"], rows, warned, args["upgrade_hint"]))
        result.update(changed=False, build=args["build"], advisories=rows, warned=warned,
                      pin={k: v for k, v in pin.items() if k in PIN_KEYS} if pin else None)
        return result
