"""``python -m vbench`` is the ``vbench`` command."""

import sys

from vbench.cli import main

sys.exit(main())
