# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to koprogo.storage: may change without notice.
"""The shape every mutating MinIO module shares: parameters -> manager -> pure decisions -> queued writes.

A module's Parameters class parses and validates the options without touching the server (errors
in .errors, secrets to scrub in .secrets); run_module() refuses them before connecting; the
manager reads the server once, decides with the pure functions of module_utils, records each
difference in self.diff and queues each write in self.changes; the writes run only after every
check passed, and never in check mode.
"""

from __future__ import annotations

from ansible_collections.koprogo.storage.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.koprogo.storage.plugins.module_utils._minio import (
    MinioConnection,
    MinioError,
    require_minio,
)


class Parameters:
    """Base of a module's parsed options: .errors (messages) and .secrets (values to scrub from errors)."""

    def __init__(self, params):
        self.errors = []
        self.secrets = []
        self.state = params.get("state")

    def check(self, message):
        if message:
            self.errors.append(message)

    def parse(self, fn, value, errors):
        try:
            return fn(value)
        except errors as exc:
            self.errors.append(str(exc))
            return None


class Manager:
    """Reads the resource once, compares it facet by facet and applies the difference.

    Subclasses set resource_key and implement read(), present() and absent(); the last two
    return the resource after the task (as it would be, in check mode).
    """

    resource_key = None

    def __init__(self, module, conn, params):
        self.module = module
        self.conn = conn
        self.p = params
        self.check_mode = module.check_mode
        self.diff = DifferenceTracker()
        self.changes = []  # callables, run in order after every check passed
        self.existing = None
        self.results = {"changed": False, "changed_facets": []}

    def fail(self, msg):
        self.module.fail_json(msg=msg, changed_facets=self.diff.changed_facets)

    def read(self):
        raise NotImplementedError

    def present(self):
        raise NotImplementedError

    def absent(self):
        raise NotImplementedError

    def apply(self, predicted, read_back):
        """Run the queued writes and return read_back(); predicted when there is none or in check mode."""
        if not self.changes or self.check_mode:
            return predicted
        for change in self.changes:
            change()
        return read_back()

    def remove(self, operation, fn, **kwargs):
        """state: absent for a resource that one call deletes; returns the resource after (None)."""
        if self.existing is None:
            return None
        self.diff.add("state", "present", "absent")
        self.changes.append(lambda: self.conn.call(operation, fn, **kwargs))
        return self.apply(None, lambda: None)

    def run(self):
        self.existing = self.read()
        after = self.present() if self.p.state == "present" else self.absent()
        self.results = self.diff.module_result(self.resource_key, self.existing, after, self.module._diff)


def run_module(module, parameters_class, manager_class):
    """Validate the options, connect, run the manager and exit; one failure shape for every module."""
    require_minio(module)
    params = parameters_class(module.params)
    if params.errors:
        module.fail_json(msg="; ".join(params.errors), changed_facets=[])
    try:
        conn = MinioConnection.from_module(module, extra_secrets=[s for s in params.secrets if s])
        manager = manager_class(module, conn, params)
        manager.run()
    except MinioError as exc:
        module.fail_json(msg=str(exc), changed_facets=[])
    module.exit_json(**manager.results)
