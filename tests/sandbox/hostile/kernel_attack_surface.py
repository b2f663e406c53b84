"""Reaches for the kernel interfaces behind most local privilege escalations: new (user) namespaces,
mounts, keyrings, eBPF, userfaultfd, perf, io_uring, and clearing its parent-death signal; then checks that
fork and threads still work."""

import ctypes
import os
import threading

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
SIGCHLD = 17

ATTEMPTS = {
    "unshare(NEWUSER)": (272, CLONE_NEWUSER),
    "unshare(NEWNS)": (272, CLONE_NEWNS),
    "clone(NEWUSER)": (56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
    "clone3": (435, 0, 0),
    "setns": (308, 0, 0),
    "mount": (165, 0, 0, 0, 0, 0),
    "keyctl": (250, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0),
    "userfaultfd": (323, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "io_uring_setup": (425, 1, 0),
    # Taking back the signal that kills the sandbox with its zygote, so as to outlive a zygote that dies.
    "prctl(PDEATHSIG,0)": (157, 1, 0, 0, 0, 0),
}


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        for name, (number, *args) in ATTEMPTS.items():
            result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
            if result == 0 and name.startswith("clone"):
                os._exit(0)  # in the child, had it worked
            print("SYSCALL", name, result, ctypes.get_errno())
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        print("FORK", os.WEXITSTATUS(os.waitpid(pid, 0)[1]))
        done = []
        thread = threading.Thread(target=lambda: done.append(1))
        thread.start()
        thread.join()
        print("THREAD", len(done))
        return x
