"""`python -m callaudit.cli`: the `audit` command."""

import sys

from callaudit.cli import main

sys.exit(main())
