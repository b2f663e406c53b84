"""A child process writes to stdout as fast as it can, forever, while forward waits for it."""

import os


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        pid = os.fork()
        if pid == 0:
            block = b"y" * (1 << 16)
            while True:
                os.write(1, block)
        os.waitpid(pid, 0)
        return x
