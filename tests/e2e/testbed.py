#!/usr/bin/env python3
"""Build network-namespace testbeds by hand: `tests/e2e/testbed.py up --paths 3 [--router]
[--rate 100mbit] [--loss 1]`, `status`, `impair`, `down`, `sweep` (needs root). The same as
`PYTHONPATH=tests/e2e/lib python3 -m braidtest ...`; see tests/e2e/README.md."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from braidtest.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
