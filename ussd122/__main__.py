"""``python -m ussd122``: the ``ussd`` command line, as the console script runs it."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
