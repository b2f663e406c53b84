"""Every sandbox starts from a copy of one template filesystem view: tries to leave something in it for the
next sandbox (another student's), in every mount point and every directory of the root it can find, and
to remount the root writable first."""

import ctypes
import os

MARK = "hostile-template-litter"
MS_REMOUNT = 0x20


def places():
    found = {"/"}
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            point = line.split()[4]
            found.update({point, os.path.dirname(point)})
    for top in os.listdir("/"):
        path = os.path.join("/", top)
        if os.path.isdir(path) and not os.path.islink(path):
            found.add(path)
            try:
                found.update(os.path.join(path, child) for child in os.listdir(path)[:50])
            except OSError:
                pass  # not ours to look into (the template's stash)
    # Its own scratch is meant to be writable, and /proc and /dev are not files.
    return sorted(p for p in found if not p.startswith(("/tmp", "/proc", "/dev")) and os.path.isdir(p))


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(None, b"/", None, MS_REMOUNT, None) == 0:
            print("REMOUNTED /")
        wrote = []
        for place in places():
            try:
                with open(os.path.join(place, MARK), "w") as handle:
                    handle.write("litter")
                wrote.append(place)
            except OSError:
                pass
        left = [p for p in places() if os.path.exists(os.path.join(p, MARK)) and p not in wrote]
        print("TRIED", len(places()), "WROTE", wrote, "FOUND", left)
        return x
