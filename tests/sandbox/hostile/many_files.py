"""Opens files until it is refused."""

import os


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        handles = []
        try:
            while len(handles) < 100_000:
                handles.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            print("OPEN STOPPED", len(handles), type(exc).__name__)
        for fd in handles:
            os.close(fd)
        return x
