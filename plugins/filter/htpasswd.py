# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does an htpasswd file's bcrypt line for a user match a password? Checked on the controller.

The traefik role reads the console's auth file once and skips community.general.htpasswd (a
module call on the host) when the user's bcrypt hash already matches the password.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: htpasswd_matches
short_description: Whether an htpasswd text holds a bcrypt hash of a password for a user
version_added: 0.1.0
description:
  - Returns true when I(_input) has exactly one line for I(user) and its bcrypt hash matches I(password).
  - Returns false otherwise, and also when the controller's Python has no C(bcrypt) library, so the
    caller's htpasswd task then runs and decides as it always did.
  - The password is never part of a message.
options:
  _input:
    description: The htpasswd file's text.
    type: str
    required: true
  user:
    description: The user name.
    type: str
    required: true
  password:
    description: The password to check.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write the console user's bcrypt hash only when it does not match
  community.general.htpasswd:
    path: /etc/traefik/auth/minio-console.htpasswd
    name: admin
    password: "{{ console_password }}"
  when: not (auth_text | koprogo.storage.htpasswd_matches('admin', console_password))
  no_log: true
"""

RETURN = r"""
_value:
  description: Whether the user's line matches the password.
  type: bool
"""


def htpasswd_matches(text, user, password):
    try:
        import bcrypt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    hashes = [line.split(":", 1)[1].strip() for line in str(text or "").splitlines()
              if line.split(":", 1)[0] == user and ":" in line]
    if len(hashes) != 1 or not hashes[0].startswith(("$2a$", "$2b$", "$2y$")):
        return False
    try:
        return bcrypt.checkpw(str(password).encode("utf-8"), hashes[0].encode("ascii"))
    except ValueError:
        return False


class FilterModule:
    """koprogo.storage.htpasswd_matches."""

    def filters(self):
        return {"htpasswd_matches": htpasswd_matches}
