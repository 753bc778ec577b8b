"""``python -m uring.echo --stage NAME``: run an echo server stage (``--list`` shows them)."""

import sys

from .common import main

sys.exit(main())
