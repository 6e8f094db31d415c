import sys

from pdekit.cli import main

sys.exit(main())
