"""``python -m disaster`` is the ``disaster`` command."""

import sys

from disaster.cli import main

sys.exit(main())
