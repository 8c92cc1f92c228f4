# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A filter on a koprogo.storage.host_probe result: would a task change this path, user, group or unit?

The roles read their host once with host_probe and skip each write task whose target already
matches; a task whose target differs (or was not read) runs as before.
"""

from __future__ import annotations

from ansible_collections.koprogo.storage.plugins.module_utils._probe import drift

DOCUMENTATION = r"""
name: probe_drift
short_description: What a task would change on a path, user, group or unit read by host_probe
version_added: 0.1.0
description:
  - Takes the result of M(koprogo.storage.host_probe) and returns the list of differences between the
    host and what a task would make of it (empty when the task would change nothing).
  - I(kind=path) checks a path (state, owner, group, mode, the sha1 of a text I(content), a I(sha256));
    I(kind=user) an account (group, home, shell, comment); I(kind=group) that a group exists;
    I(kind=unit) a systemd unit (loaded, no pending daemon-reload, started, enabled).
  - Anything the probe did not read counts as a difference, so a skipped task never hides one.
options:
  _input:
    description: The registered result of M(koprogo.storage.host_probe).
    type: dict
    required: true
  name:
    description: The path, or the user, group or unit name.
    type: str
    required: true
  kind:
    description: What I(name) is.
    type: str
    default: path
    choices: [path, user, group, unit]
  state:
    description: C(file) or C(directory).
    type: str
    default: file
  owner:
    description: Owner name or uid; omitted = not compared.
    type: str
  group:
    description: Group name or gid; omitted = not compared.
    type: str
  mode:
    description: Octal mode such as C(0640); omitted = not compared.
    type: raw
  content:
    description: The text the task writes (a rendered template, a file lookup); omitted = not compared.
    type: str
  sha256:
    description: The sha256 the file must have; omitted = not compared.
    type: str
  home:
    description: I(kind=user) only, the home directory; omitted = not compared.
    type: str
  shell:
    description: I(kind=user) only, the login shell; omitted = not compared.
    type: str
  comment:
    description: I(kind=user) only, the GECOS comment; omitted = not compared.
    type: str
  started:
    description: I(kind=unit) only, whether the unit must be active.
    type: bool
    default: true
  enabled:
    description: I(kind=unit) only, whether the unit must be enabled; omitted = not compared.
    type: bool
"""

EXAMPLES = r"""
- name: Write the static configuration
  ansible.builtin.template:
    src: traefik.yml.j2
    dest: /etc/traefik/traefik.yml
    owner: root
    group: traefik
    mode: "0640"
  when: >-
    __probe | koprogo.storage.probe_drift('/etc/traefik/traefik.yml', owner='root', group='traefik',
    mode='0640', content=lookup('ansible.builtin.template', 'traefik.yml.j2')) | length > 0
"""

RETURN = r"""
_value:
  description: One readable line per difference; empty when the task would change nothing.
  type: list
  elements: str
"""


class FilterModule:
    """koprogo.storage.probe_drift."""

    def filters(self):
        return {"probe_drift": drift}
