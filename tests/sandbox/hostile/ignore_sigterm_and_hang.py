"""Ignores every catchable signal, then sleeps forever in forward (a wall-clock timeout)."""

import signal
import time

for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU, signal.SIGUSR1):
    signal.signal(number, signal.SIG_IGN)


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        while True:
            time.sleep(10)
