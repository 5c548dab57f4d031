"""``python -m core.cli``: see :mod:`core.cli.run`."""

import os
import sys

from core.cli.run import main

try:
    code = main()
except BrokenPipeError:  # `... | head`: the reader left; say nothing more (Python's docs)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 1
sys.exit(code)
