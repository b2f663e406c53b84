"""Spreads a big allocation over six processes, each under the per-process address-space limit."""

import os
import time

import numpy as np

CHUNK = 200 << 20


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        children = []
        for _ in range(6):
            pid = os.fork()
            if pid == 0:
                block = np.ones(CHUNK // 8)  # touched: real memory, not just address space
                time.sleep(1.0)
                os._exit(0 if block[-1] == 1 else 1)
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            print("CHILD", "killed" if os.WIFSIGNALED(status) else "exited", os.WTERMSIG(status) or os.WEXITSTATUS(status))
        return x
