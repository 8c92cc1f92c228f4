#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Used by the minio_server role: match the installed build against the
role's advisory list (vars/advisories.yml) and warn about the advisories that apply.

A module, not ansible.builtin.debug: only a module result's `warnings` reach Ansible's warning
channel ([WARNING] on the console, the `warnings` of callbacks and AWX), and ansible.builtin has
no module that emits a caller-given warning. It runs on the controller and never changes anything.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_server_advisories
short_description: Known advisories of the installed MinIO build (used by the minio_server role)
version_added: 0.1.0
description:
  - Matches the build (Go module and version, binary sha256, reported server version) against a list
    of pins and returns the advisories of the first pin that matches.
  - Warns about the advisories that apply (their feature is in use) and are not acknowledged.
  - The C(koprogo.storage.minio_server) role calls it on the controller with its data file
    C(vars/advisories.yml); it reads nothing else and never changes anything.
options:
  advisories:
    description: Advisory id to its facts (cve, severity, impact, edge, requires).
    type: dict
    required: true
  pins:
    description: Ordered pins, each with module+version, sha256 or server_version, and advisories.
    type: list
    elements: dict
    required: true
  build:
    description: The installed build (module, version, sha256, server_version; unknown parts empty).
    type: dict
    required: true
  features:
    description: Optional features in use (oidc, ldap, internode).
    type: list
    elements: str
    default: []
  acknowledged:
    description: Advisory ids the operator accepted; they are reported but not warned about.
    type: list
    elements: str
    default: []
  upgrade_hint:
    description: One sentence appended to the warning (how to move to a patched build).
    type: str
    default: ""
extends_documentation_fragment:
  - koprogo.storage.minio.attributes_read_only
author:
  - KoproGo contributors (@koprogo)
"""

EXAMPLES = r"""
- name: Warn about the advisories of a build of the archived upstream module
  koprogo.storage.minio_server_advisories:
    advisories:
      GHSA-9c4q-hq6p-c237:
        cve: CVE-2026-40344
        severity: high
        impact: Snowball auto-extract upload without signature verification
        edge: requests carrying X-Amz-Meta-Snowball-Auto-Extract
        requires: ""
    pins:
      - module: github.com/minio/minio
        version: "*"
        advisories: [GHSA-9c4q-hq6p-c237]
    build:
      module: github.com/minio/minio
      version: v0.0.0-20260212201848-7aac2a2c5b7c
      sha256: ""
      server_version: DEVELOPMENT.GOGET
    acknowledged: []
  register: advisories
"""

RETURN = r"""
build:
  description: The build that was matched, as given.
  returned: always
  type: dict
pin:
  description: The pin that matched (without its advisory list), or null when none did.
  returned: always
  type: dict
advisories:
  description: Every advisory of the matched pin, with its id and whether it applies here.
  returned: always
  type: list
  elements: dict
warned:
  description: Ids named in the warning (applicable and not acknowledged).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - after the documentation, as Ansible expects
from ansible_collections.koprogo.storage.plugins.module_utils._advisories import (  # noqa: E402
    ARGUMENT_SPEC,
    PIN_KEYS,
    assess,
    match,
    pin_matches,
    warning_text,
)

__all__ = ["assess", "match", "pin_matches", "warning_text", "main"]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        pin, rows, warned = assess(p["advisories"], p["pins"], p["build"], p["features"], p["acknowledged"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if warned:
        module.warn(warning_text(p["build"], rows, warned, p["upgrade_hint"]))
    module.exit_json(changed=False, build=p["build"], advisories=rows, warned=warned,
                     pin={k: v for k, v in pin.items() if k in PIN_KEYS} if pin else None)


if __name__ == "__main__":
    main()
