"""``python -m mrinets``: the ``mrinets`` command."""

import sys

from mrinets.cli import main

sys.exit(main())
