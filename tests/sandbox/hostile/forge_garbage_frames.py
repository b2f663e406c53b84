"""Writes forged reply frames to every descriptor 0..64: an oversized length, bad JSON, a wrong schema."""

import json
import os
import struct


def frame(header):
    body = json.dumps(header).encode()
    return struct.pack(">I", len(body)) + body


FORGERIES = [
    frame({"op": "call", "key": "x", "status": "ok", "values": [], "failure": None, "blobs": [], "extra": 1}),
    struct.pack(">I", 0xFFFFFFF0) + b"{",
    struct.pack(">I", 5) + b"{oops",
]


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        for forged in FORGERIES:
            for fd in range(65):
                try:
                    os.write(fd, forged)
                except OSError:
                    pass
        return x
