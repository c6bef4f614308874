"""`python -m wenda` runs the `wenda` command."""

import sys

from wenda.bot.cli import main

sys.exit(main())
