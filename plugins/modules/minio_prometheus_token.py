#!/usr/bin/python
# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: minio_prometheus_token
short_description: Keep a MinIO Prometheus bearer token file valid for the current secret
version_added: 0.1.0
description:
  - Writes the bearer token that MinIO accepts on its Prometheus metrics endpoints
    (C(/minio/v2/metrics/cluster), C(/minio/v2/metrics/node), ...) into a file that Prometheus reads through
    C(authorization.credentials_file).
  - The token is an HS512 JSON Web Token with issuer O(issuer), subject O(access_key), signed with
    O(secret_key), as C(mc admin prometheus generate) builds it. It is minted locally with the PyJWT library;
    the module does not contact MinIO.
  - An existing token is kept as long as its signature verifies with O(secret_key), its issuer and subject match,
    and it stays valid for more than O(renew_before_days). So the module reports no change on repeated runs, and
    mints a new token when the secret key rotates, the access key changes or the token nears its expiry.
  - The account needs the C(admin:Prometheus) action; create it with M(koprogo.storage.minio_policy) and
    M(koprogo.storage.minio_user).
  - The token is never returned or logged.
author:
  - KoproGo contributors (@koprogo)
options:
  path:
    description:
      - File that holds the token. Its directory must exist.
    type: path
    required: true
  access_key:
    description:
      - Access key of the MinIO user (or service account) the token stands for. It becomes the C(sub) claim.
    type: str
  secret_key:
    description:
      - Secret key of O(access_key). It signs the token and is never logged.
      - Required when O(state=present).
    type: str
  issuer:
    description:
      - C(iss) claim. MinIO only accepts V(prometheus).
    type: str
    default: prometheus
  lifetime_days:
    description:
      - Lifetime of a newly minted token in days. C(mc) uses 100 years; the default does the same because the token
        dies anyway when the secret key rotates.
    type: int
    default: 36500
  renew_before_days:
    description:
      - Mint a new token when the existing one expires within this many days.
    type: int
    default: 30
  state:
    description:
      - V(present) keeps a valid token in O(path); V(absent) removes the file.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - Octal mode of the token file. Defaults to V(0600). Modes that let other users read or write the token
        are refused.
    type: raw
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Shows the token's claims before and after, never the token itself.
    support: full
requirements:
  - PyJWT >= 2.0 on the host that runs the module (Debian package C(python3-jwt)).
seealso:
  - module: koprogo.storage.minio_user
  - module: koprogo.storage.minio_policy
"""

EXAMPLES = r"""
- name: Token for the metrics-only MinIO user, readable by Prometheus only
  koprogo.storage.minio_prometheus_token:
    path: /etc/prometheus/koprogo-minio.token
    access_key: koprogo-prometheus
    secret_key: "{{ vault_minio_prometheus_secret_key }}"
    owner: prometheus
    group: prometheus
    mode: "0600"
  no_log: true

- name: Remove the token
  koprogo.storage.minio_prometheus_token:
    path: /etc/prometheus/koprogo-minio.token
    state: absent
"""

RETURN = r"""
reason:
  description:
    - Why the token was (or in check mode would be) minted, or V(valid) when the existing one was kept.
    - One of V(valid), V(missing), V(malformed), V(algorithm), V(signature) (the secret key rotated), V(issuer),
      V(subject), V(no_expiry), V(expired), V(expiring); V(absent) after O(state=absent).
  type: str
  returned: always
  sample: signature
message:
  description: RV(reason) as a sentence.
  type: str
  returned: always
  sample: the token was signed with another secret (the secret key rotated)
path:
  description: The token file.
  type: str
  returned: always
subject:
  description: C(sub) claim of the token now in the file.
  type: str
  returned: when O(state=present)
  sample: koprogo-prometheus
issuer:
  description: C(iss) claim of the token now in the file.
  type: str
  returned: when O(state=present)
  sample: prometheus
expires_at:
  description: Expiry of the token now in the file, in seconds since the epoch.
  type: int
  returned: when O(state=present)
  sample: 4919420417
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.koprogo.storage.plugins.module_utils import _prometheus_token as tok
from ansible_collections.koprogo.storage.plugins.module_utils._iam import (
    validate_access_key,
    validate_secret,
)

DEFAULT_MODE = "0600"


class TokenFile:
    """Reads the current token file, decides, and rewrites it when needed."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = self.params["path"]
        self.now = int(time.time())
        self.result = {"changed": False, "path": self.path}

    def read(self):
        if not os.path.exists(self.path):
            return None
        if os.path.isdir(self.path):
            self.module.fail_json(msg=f"{self.path} is a directory, not a token file")
        try:
            with open(self.path, "rb") as handle:
                return handle.read(65536).decode("ascii", errors="replace")
        except OSError as exc:
            self.module.fail_json(msg=f"cannot read {self.path}: {to_native(exc.strerror)}")
        return None

    def write(self, token):
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            self.module.fail_json(msg=f"directory {directory} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, to_bytes(token + "\n"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.module.atomic_move(tmp, self.path)

    def file_args(self):
        args = self.module.load_file_common_arguments(self.params, path=self.path)
        if args.get("mode") is None:
            args["mode"] = DEFAULT_MODE
        return args

    @staticmethod
    def summary(claims):
        if not claims:
            return {}
        return {k: claims.get(k) for k in ("sub", "iss", "iat", "exp") if k in claims}

    def present(self):
        p = self.params
        reason, claims = tok.check_token(self.read(), p["access_key"], p["secret_key"], p["issuer"], self.now,
                                         p["renew_before_days"] * tok.SECONDS_PER_DAY)
        after = claims
        if reason != tok.VALID:
            lifetime = p["lifetime_days"] * tok.SECONDS_PER_DAY
            after = tok.token_claims(p["access_key"], p["issuer"], self.now, lifetime)
            self.result["changed"] = True
            if not self.module.check_mode:
                self.write(tok.mint_token(p["access_key"], p["secret_key"], p["issuer"], self.now, lifetime))
        if os.path.exists(self.path) or not self.module.check_mode:
            self.result["changed"] = self.module.set_fs_attributes_if_different(
                self.file_args(), self.result["changed"])
        self.result.update(
            reason=reason, message=tok.REASON_TEXT[reason], subject=after["sub"], issuer=after["iss"],
            expires_at=after["exp"],
        )
        self.result["diff"] = {"before": self.summary(claims) if reason != tok.MISSING else {},
                               "after": self.summary(after)}

    def absent(self):
        exists = os.path.lexists(self.path)
        self.result.update(changed=exists, reason="absent", message="the token file is absent")
        self.result["diff"] = {"before": {"path": self.path} if exists else {}, "after": {}}
        if exists and not self.module.check_mode:
            try:
                os.unlink(self.path)
            except OSError as exc:
                self.module.fail_json(msg=f"cannot remove {self.path}: {to_native(exc.strerror)}")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            access_key=dict(type="str", no_log=False),
            secret_key=dict(type="str", no_log=True),
            issuer=dict(type="str", default=tok.DEFAULT_ISSUER),
            lifetime_days=dict(type="int", default=36500),
            renew_before_days=dict(type="int", default=30),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["access_key", "secret_key"])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if tok.JWT_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyJWT (Debian package python3-jwt)"),
                         exception=tok.JWT_IMPORT_ERROR)
    p = module.params
    token_file = TokenFile(module)
    if p["state"] == "absent":
        token_file.absent()
        module.exit_json(**token_file.result)

    for error in (validate_access_key("access_key", p["access_key"]), validate_secret("secret_key", p["secret_key"]),
                  tok.validate_lifetime(p["lifetime_days"], p["renew_before_days"]), tok.mode_error(p["mode"])):
        if error:
            module.fail_json(msg=error)
    if not p["issuer"]:
        module.fail_json(msg="issuer must not be empty")
    token_file.present()
    module.exit_json(**token_file.result)


if __name__ == "__main__":
    main()
