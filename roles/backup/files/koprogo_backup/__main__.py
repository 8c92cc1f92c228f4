import sys

from koprogo_backup.cli import main

sys.exit(main())
