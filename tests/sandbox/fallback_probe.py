"""Run by test_sandbox_fallback.py as an unprivileged user: grades through SandboxRunner in its degraded
mode and prints, as JSON, what the runner reported and what the submissions managed to see."""

from __future__ import annotations

import dataclasses
import json
import os

from sandbox_support import FAKE_TOKEN, GOOD_SOURCE, LIMITS, make_calls, matches

from grader.sandbox import SandboxRunner

SNOOP = """import os
import resource


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        print("ENV", sorted(os.environ))
        print("CWD", os.getcwd(), os.listdir("."))
        print("NPROC", resource.getrlimit(resource.RLIMIT_NPROC)[0])
        return x

    def backward(self, delta):
        while True:
            pass
"""


def main() -> None:
    calls = make_calls(rounds=2)
    with SandboxRunner() as runner:
        good = runner.run(GOOD_SOURCE, "nn.py", calls, LIMITS)
        snoop = runner.run(SNOOP, "nn.py", calls[1:3], dataclasses.replace(LIMITS, cpu_seconds=0.5))
    forward, backward = snoop.calls
    print(
        json.dumps(
            {
                "uid": os.getuid(),
                "all_correct": all(matches(o, c) for o, c in zip(good.calls, calls, strict=True)),
                "isolation": good.isolation,
                "warnings": list(good.warnings),
                "token_in_env": FAKE_TOKEN in os.environ.values(),
                "snoop_output": forward.output,
                "hog": [backward.status, backward.detail],
            }
        )
    )


if __name__ == "__main__":
    main()
