"""kioskd: a municipal pickup-and-return locker kiosk."""

import os as _os

__version__ = "0.1.0"

# pygame greets on stdout when imported; kioskctl's output is parsed by scripts, so keep it ours alone
_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
