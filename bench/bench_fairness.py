"""What a grading costs end to end, and whether the verdict holds on a busy machine: figures for the README.

    python bench/bench_fairness.py [--files 40] [--repeats 7] [--jobs 8]

Prints, each beside the naive baseline measured in the same run (a fresh, unsandboxed Python per file that
imports NumPy and runs only the six visible cases):
- ``conv1d-grader grade nn.py --json`` from the shell, start-up included (median of a few runs);
- ``conv1d-grader batch`` over N distinct correct files from the shell, start-up included;
- what a hanging submission costs: ``submissions/backward_hangs.py`` (backward spins on every case) and the
  same file with a sleep instead of a spin, wall time and the CPU time of the sandboxes;
- the grader's peak memory for a correct file and for a file that returns a large array from every call;
- the same batch with two busy loops per core running beside it: its throughput, and whether every verdict
  is the same as on the quiet machine.

Nothing is asserted: tests do not time things. The figures are the machine's of the moment; run it on a
quiet machine (the busy-loop part makes its own load).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import BASELINE  # noqa: E402

SAMPLES = ROOT / "submissions"
GRADER = [sys.executable, "-m", "grader"]
CORRECT = (SAMPLES / "correct_vectorised.py").read_text("utf-8")


# Run in a child process so that its peak RSS is the grader's own, whatever this script holds.
PEAK = textwrap.dedent(
    """
    import json, resource, sys
    from grader import grade
    result = grade(sys.argv[1])
    print(json.dumps({"score": result.score, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)

BIG_RETURNS = textwrap.dedent(
    """
    import numpy as np

    def get_conv1d_output_size(input_size, kernel_size, stride):
        return (input_size - kernel_size) // stride + 1

    class Conv1d:
        def __init__(self, *args):
            pass

        def forward(self, x):
            return np.broadcast_to(np.float64(1.0), (8 << 20,))  # 64 MiB each, free to make

        def backward(self, delta):
            self.grad_weight = self.grad_bias = np.broadcast_to(np.float64(1.0), (8 << 20,))
            return np.broadcast_to(np.float64(1.0), (8 << 20,))
    """
)


def _run(command: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started, done


def _distinct(i: int) -> str:
    return f"# student {i:04d}\n" + CORRECT.replace("_windows", f"_windows_{i}")


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _spin(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        pass


def start_load(per_core: int = 2) -> tuple[multiprocessing.synchronize.Event, list[multiprocessing.Process]]:  # type: ignore[name-defined]
    stop = multiprocessing.Event()
    loops = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(per_core * (os.cpu_count() or 1))]
    for loop in loops:
        loop.start()
    return stop, loops


def stop_load(stop: multiprocessing.synchronize.Event, loops: list[multiprocessing.Process]) -> None:  # type: ignore[name-defined]
    stop.set()
    for loop in loops:
        loop.join()


def startup(repeats: int, folder: Path) -> None:
    path = folder / "nn.py"
    path.write_text(CORRECT, "utf-8")
    ours = [_run([*GRADER, "grade", str(path), "--json"], cwd=ROOT)[0] for _ in range(repeats)]
    naive = [_run([sys.executable, "-c", BASELINE, str(path)])[0] for _ in range(repeats)]
    print(
        f"grade one file from the shell (53 tests, sandboxed): median {statistics.median(ours) * 1000:.0f} ms; "
        f"baseline (six visible cases, no sandbox): {statistics.median(naive) * 1000:.0f} ms; "
        f"ratio {statistics.median(ours) / statistics.median(naive):.2f}"
    )


def _batch(handins: Path, jobs: int, out: Path) -> tuple[float, dict[str, tuple[str, str, str]]]:
    seconds, done = _run([*GRADER, "batch", str(handins), "--out", str(out), "--no-progress", "--jobs", str(jobs)])
    if done.returncode != 0:
        print(done.stdout, done.stderr)
    with out.open(newline="", encoding="utf-8") as gradebook:
        rows = {row["submission"]: (row["q1"], row["q2"], row["status"]) for row in csv.DictReader(gradebook)}
    return seconds, rows


def throughput(files: int, jobs: int, folder: Path, label: str) -> None:
    """N distinct correct files, graded by `batch` from the shell, against the baseline on the same files."""
    handins = folder / "correct"
    handins.mkdir(exist_ok=True)
    for i in range(files):
        (handins / f"student_{i:04d}.py").write_text(_distinct(i), "utf-8")
    seconds, rows = _batch(handins, jobs, folder / "throughput.csv")
    full = sum(q1 == "50" and q2 == "50" for q1, q2, _ in rows.values())
    started = time.perf_counter()
    for path in sorted(handins.glob("*.py")):
        subprocess.run([sys.executable, "-c", BASELINE, str(path)], capture_output=True, check=False)
    naive = time.perf_counter() - started
    print(
        f"[{label}] batch of {files} distinct correct files from the shell (--jobs {jobs}, start-up included): "
        f"{seconds:.2f} s, {files / seconds:.1f} files/s, {full} at full marks; baseline {files / naive:.1f} "
        f"files/s; ratio {naive / seconds:.1f}x"
    )


def samples(jobs: int, folder: Path, label: str) -> dict[str, tuple[str, str, str]]:
    """Every sample in submissions/ (correct, buggy, hanging, rejected): the verdicts, to compare."""
    seconds, rows = _batch(SAMPLES, jobs, folder / f"samples-{label}.csv")
    print(f"[{label}] the {len(rows)} samples (--jobs {jobs}): {seconds:.2f} s")
    return rows


def hang_cost(folder: Path) -> None:
    sleeping = (SAMPLES / "backward_hangs.py").read_text("utf-8").replace(
        "        while i < self.output_size:", "        import time\n        time.sleep(3600)\n        while i < 0:"
    )
    for name, source in (("spins", (SAMPLES / "backward_hangs.py").read_text("utf-8")), ("sleeps", sleeping)):
        path = folder / f"backward_{name}.py"
        path.write_text(source, "utf-8")
        before = _children_cpu()
        seconds, done = _run([*GRADER, "grade", str(path), "--json"], cwd=ROOT)
        result = json.loads(done.stdout)
        q1, q2 = (q["score"] for q in result["questions"])
        print(
            f"a backward that {name} on every case: graded in {seconds:.2f} s wall, "
            f"{_children_cpu() - before:.2f} s CPU (grader, zygote and sandboxes); q1 {q1:g}/50 q2 {q2:g}/50"
        )


def memory(folder: Path) -> None:
    for name, source in (("a correct file", CORRECT), ("a file returning 64 MiB from every call", BIG_RETURNS)):
        path = folder / "peak.py"
        path.write_text(source, "utf-8")
        _, done = _run([sys.executable, "-c", PEAK, str(path)], cwd=ROOT)
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"grader peak RSS grading {name}: {seen['peak_mib']:.0f} MiB (score {seen['score']:g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        startup(args.repeats, folder)
        throughput(args.files, 2 * (os.cpu_count() or 1), folder, "quiet")
        quiet = samples(2 * (os.cpu_count() or 1), folder, "quiet")
        hang_cost(folder)
        memory(folder)
        stop, loops = start_load()
        try:
            label = f"busy: {len(loops)} busy loops"
            throughput(args.files, args.jobs, folder, label)
            busy = samples(args.jobs, folder, label)
        finally:
            stop_load(stop, loops)
        changed = sorted(name for name in quiet if quiet[name] != busy.get(name))
        print(f"verdicts that changed under load: {len(changed)} of {len(quiet)}" + (f": {changed}" if changed else ""))


if __name__ == "__main__":
    main()
