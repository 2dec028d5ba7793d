"""``python -m metricrm.cli``: the ``metricrm`` command."""

import sys

from . import main

sys.exit(main())
