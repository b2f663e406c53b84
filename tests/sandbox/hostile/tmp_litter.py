"""Leaves files in /tmp, hoping they land in the host's /tmp."""

import os


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        for name in ("hostile-litter-file", "hostile-litter-dir"):
            path = os.path.join("/tmp", name)
            if name.endswith("dir"):
                os.makedirs(path, exist_ok=True)
            else:
                with open(path, "w") as handle:
                    handle.write("litter")
        print("LITTERED", sorted(os.listdir("/tmp")))
        return x
