"""Writes a huge file in its scratch folder, then anywhere else it can think of."""

import os


def fill(path):
    written = 0
    chunk = b"x" * (1 << 20)
    try:
        with open(path, "wb") as handle:
            while written < (1 << 30):
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
    except OSError as exc:
        return written, type(exc).__name__, exc.errno
    return written, None, None


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        print("SCRATCH", *fill("/tmp/huge.bin"))
        os.remove("/tmp/huge.bin")
        for path in ("/huge.bin", "/usr/lib/huge.bin", os.path.join(os.getcwd(), "..", "huge.bin")):
            print("ELSEWHERE", path, *fill(path))
        return x
