"""Grading speed and memory, measured: warm single-submission latency and batch throughput against a baseline.

    python bench/bench_grading.py [--submissions 100] [--repeats 60] [--jobs N] [--batch-runs 3]

Prints:
- warm end-to-end ``grade()`` latency of a correct vectorised submission (median, p95), through the sandbox;
- ``batch`` of N distinct submissions (each a correct solution with its own names and comments), run a few
  times: each run's wall time, the median's throughput, per-submission median/p95;
- the baseline: a loop that starts a fresh, unsandboxed Python per file and runs only the six visible cases,
  and the ratio between the two;
- peak memory: the grader process's RSS, the zygote's, and the most memory one sandbox made its own.

The figures are printed, never asserted: tests do not time things.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from baseline import BASELINE  # noqa: E402

from grader import Submission, grade, load_config  # noqa: E402
from grader.batch import default_jobs, discover, grade_folder  # noqa: E402
from grader.engine import default_runner  # noqa: E402
from grader.sandbox._cgroup import MEMORY_GROUPS  # noqa: E402

CORRECT = (ROOT / "submissions" / "correct_vectorised.py").read_text("utf-8")



def _distinct(i: int) -> str:
    """A correct submission that differs from every other one in text (names, comments)."""
    return f"# student {i:04d}\n" + CORRECT.replace("_windows", f"_windows_{i}").replace("contrib", f"contrib_{i}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="default: what `batch` uses")
    parser.add_argument("--batch-runs", type=int, default=3)
    args = parser.parse_args()
    config = load_config()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, jobs={args.jobs}")
    _reset_sandbox_peaks()
    started = time.perf_counter()
    first = grade(Submission("warm-up", CORRECT.encode()), config)
    isolation = first.isolation.summary() if first.isolation else "isolation: not reported"
    print(f"cold start (sandbox zygote + first grade): {_ms(time.perf_counter() - started)}; "
          f"score {first.score:g}/{first.max_score:g}; {isolation}")
    for warning in first.warnings:
        print(f"WARNING: {warning}")

    latencies = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        result = grade(Submission(f"warm-{i}", CORRECT.encode()), config)
        latencies.append(time.perf_counter() - t0)
        assert result.score == result.max_score, result.messages
    print(f"warm grade() of one correct vectorised submission, {args.repeats} runs: "
          f"median {_ms(statistics.median(latencies))}, p95 {_ms(_percentile(latencies, 0.95))}")

    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.submissions):
            Path(folder, f"student_{i:04d}.py").write_text(_distinct(i), "utf-8")
        submissions = discover(folder)

        # A batch of 100 lasts under a second, so one run is at the mercy of the machine's noise: the median
        # of a few runs is what is compared, and every run is printed.
        runs = []
        for _ in range(args.batch_runs):
            t0 = time.perf_counter()
            entries = grade_folder(submissions, config, jobs=args.jobs)
            runs.append(time.perf_counter() - t0)
            assert all(e.result is not None and e.result.score == e.result.max_score for e in entries)
        batch_seconds = statistics.median(runs)
        per = [e.result.execution_time for e in entries if e.result is not None]
        print(f"batch of {len(entries)} distinct submissions, {len(runs)} runs "
              f"({', '.join(f'{r:.2f}' for r in runs)} s): median {batch_seconds:.2f} s wall, "
              f"{len(entries) / batch_seconds:.1f} submissions/s; per submission (last run) median "
              f"{_ms(statistics.median(per))}, p95 {_ms(_percentile(per, 0.95))}")

        t0 = time.perf_counter()
        for _, path in submissions:
            done = subprocess.run([sys.executable, "-c", BASELINE, str(path)], capture_output=True, text=True)
            assert done.stdout.strip() == "6", done.stderr
        baseline_seconds = time.perf_counter() - t0
        print(f"baseline (fresh unsandboxed python per file, six visible cases only): {baseline_seconds:.2f} s wall, "
              f"{len(submissions) / baseline_seconds:.1f} submissions/s")
        print(f"batch is {baseline_seconds / batch_seconds:.1f}x faster than the baseline "
              f"while running {len(first.tests())} tests per submission in the sandbox")

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: grader process {own:.0f} MiB RSS; zygote {_zygote_peak()}; one sandbox {_sandbox_peak()}")


def _zygote_peak() -> str:
    pid = default_runner().zygote_pid
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return f"{int(line.split()[1]) / 1024:.0f} MiB RSS (shared with every sandbox it forks)"
    return "unknown"


def _sandbox_peak() -> str:
    """The most any sandbox's memory cgroup held: the pages it made its own (copied on write or allocated),
    which is what a sandbox adds to the machine on top of the zygote it shares the rest with."""
    peaks = [int(p.read_text()) for p in MEMORY_GROUPS.glob("*/memory.max_usage_in_bytes")]
    return f"{max(peaks) / 2**20:.1f} MiB of its own (cgroup peak)" if peaks else "unknown (no memory cgroups)"


def _reset_sandbox_peaks() -> None:
    for peak in MEMORY_GROUPS.glob("*/memory.max_usage_in_bytes"):
        with contextlib.suppress(OSError):
            peak.write_text("0")


if __name__ == "__main__":
    main()
