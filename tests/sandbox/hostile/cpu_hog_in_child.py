"""Burns CPU in a child process while forward just waits for it: the sandbox process itself stays idle."""

import os


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        pid = os.fork()
        if pid == 0:
            while True:
                pass
        os.waitpid(pid, 0)
        return x
