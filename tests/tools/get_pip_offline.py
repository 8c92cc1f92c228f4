"""Stand-in for ansible-test's pip bootstrap script (its download host is unreachable here).

ansible-test runs this file with get-pip.py's arguments (options and packages such as pip==24.2).
We seed pip from the interpreter's bundled wheel (ensurepip), then let that pip install the
requested packages from the configured package index.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
