"""Leaves a double-forked setsid daemon that writes a marker file to a host path a little later.

TARGETS: marker (a host path in the test's temporary directory).
"""

import os
import time


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                for path in (TARGETS["marker"], "/tmp/daemon-marker"):  # noqa: F821
                    try:
                        with open(path, "w") as handle:
                            handle.write("still alive")
                    except OSError:
                        pass
                time.sleep(60)
            os._exit(0)
        os.wait()
        print("DAEMON STARTED")
        return x
