"""Leaves the process at import time, skipping every handler."""

import os

print("about to vanish")
os._exit(3)
