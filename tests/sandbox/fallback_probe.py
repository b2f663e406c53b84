"""Run by test_sandbox_fallback.py as a grader that is not root in the host's user namespace (uid 65534, or
root inside a user namespace): grades through SandboxRunner and prints, as JSON, what the runner reported and
what correct, snooping and hostile submissions managed to see and do."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from pathlib import Path

from sandbox_support import FAKE_TOKEN, GOOD_SOURCE, LIMITS, make_calls, matches

from grader.sandbox import SandboxRunner
from grader.sandbox._host import host_uid

HOSTILE = Path(__file__).parent / "hostile"

SNOOP = """import os
import resource


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        print("ENV", sorted(os.environ))
        print("CWD", os.getcwd(), sorted(os.listdir(".")))
        print("ROOT", sorted(os.listdir("/")))
        print("NPROC", resource.getrlimit(resource.RLIMIT_NPROC)[0])
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("Uid:", "CapEff:", "CapPrm:", "CapInh:", "CapBnd:", "CapAmb:", "NoNewPrivs:",
                                    "Seccomp:")):
                    print("STATUS", " ".join(line.split()))
        children = []
        for _ in range(8):  # honest forks: the limit is this sandbox's own, not the grader user's
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            children.append(pid)
        print("FORKED", sum(os.WEXITSTATUS(os.waitpid(pid, 0)[1]) == 0 for pid in children))
        return x

    def backward(self, delta):
        while True:
            pass
"""


def _hostile(runner: SandboxRunner, name: str, calls: list, **targets: object) -> list[str]:
    source = f"TARGETS = {targets!r}\n" + (HOSTILE / f"{name}.py").read_text()
    report = runner.run(source, "nn.py", calls, LIMITS)
    return [f"STATUS {o.status}" for o in report.calls] + [line for o in report.calls for line in o.output.splitlines()]


def main() -> None:
    calls = make_calls(rounds=2)
    forward = calls[1]
    with SandboxRunner() as runner:
        good = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
        snoop = runner.run(SNOOP, "nn.py", calls[1:3], dataclasses.replace(LIMITS, cpu_seconds=0.5))
        hostile = {}
        if good.isolation is not None and good.isolation.namespaces:
            with socket.create_server(("127.0.0.1", 0)) as listener:
                port = listener.getsockname()[1]
                hostile["network"] = _hostile(runner, "network", [forward], port=port)
            hostile["signal_grader"] = _hostile(runner, "signal_grader", [forward], grader_pid=os.getpid())
            hostile["environment"] = _hostile(runner, "environment", [forward], grader_pid=os.getpid())
            if host_uid(os.geteuid()) != 0:
                # Mapped to the host's root, nothing would hold the bomb but its CPU time: not on a shared machine.
                hostile["fork_bomb"] = _hostile(runner, "fork_bomb", [forward])
            hostile["kernel_attack_surface"] = _hostile(runner, "kernel_attack_surface", [forward])
        after = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
    size_forward, backward = snoop.calls
    print(
        json.dumps(
            {
                "uid": os.getuid(),
                "all_correct": all(matches(o, c) for o, c in zip(good.calls, calls, strict=True)),
                "still_correct": len(after.calls) == len(calls)
                and all(matches(o, c) for o, c in zip(after.calls, calls, strict=True)),
                "isolation": dataclasses.asdict(good.isolation) if good.isolation is not None else None,
                "warnings": list(good.warnings),
                "token_in_env": FAKE_TOKEN in os.environ.values(),
                "snoop_output": size_forward.output,
                "hog": [backward.status, backward.detail],
                "hostile": hostile,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
