"""`python -m bot` runs the `tavernkeep` command line."""

import sys

from bot.cli import main

sys.exit(main())
