"""The backup program is a package under roles/backup/files (installed on the host, not a module)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "roles" / "backup" / "files"))
