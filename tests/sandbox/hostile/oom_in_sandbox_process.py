"""Lets a child take 150 MiB, then takes 250 MiB itself: together over the sandbox's memory cgroup, so the
kernel's OOM killer picks the biggest process, the sandbox process itself."""

import os
import time

import numpy as np


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        if os.fork() == 0:
            block = np.ones((150 << 20) // 8)
            time.sleep(10)
            os._exit(int(block[0]))
        time.sleep(0.3)
        hoard = np.ones((250 << 20) // 8)
        time.sleep(10)
        return hoard[:3]
