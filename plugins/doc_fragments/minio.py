# Copyright: KoproGo contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every koprogo.storage.minio_* module.
    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - URL of the MinIO S3 API, with scheme and port, for example V(http://127.0.0.1:9000).
      - If not set, the environment variable E(MINIO_ENDPOINT) is used.
    type: str
    required: true
  access_key:
    description:
      - Access key used to authenticate, usually the root user or an admin user.
      - If not set, E(MINIO_ACCESS_KEY) or E(MINIO_ROOT_USER) is used.
    type: str
    required: true
    aliases: [root_user]
  secret_key:
    description:
      - Secret key matching O(access_key). It is never logged and is scrubbed from error messages.
      - If not set, E(MINIO_SECRET_KEY) or E(MINIO_ROOT_PASSWORD) is used.
    type: str
    required: true
    aliases: [root_password]
  region:
    description:
      - Region used to sign requests. MinIO's default is V(us-east-1).
      - If not set, E(MINIO_REGION) is used.
    type: str
    default: us-east-1
  validate_certs:
    description:
      - Verify the server's TLS certificate when O(endpoint) uses https.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority that signed the server certificate.
    type: path
  timeout:
    description:
      - Connection timeout in seconds. Reads may take up to three times longer.
    type: float
    default: 10.0
notes:
  - Set the connection options once for all modules with
    C(module_defaults) and the action group C(group/koprogo.storage.minio).
  - The modules talk to MinIO through the minio Python SDK (S3 and admin APIs); they never run C(mc).
requirements:
  - minio >= 7.2.14, < 8 (the Python SDK) on the host that runs the module.
"""

    # For the modules that change the server.
    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - Secrets are shown as V(<redacted>).
"""

    # For the modules that only report (minio_info, minio_server_advisories).
    ATTRIBUTES_READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Returns no diff; the module only reads.
    support: none
"""
