"""Load on the grading service: upload-to-verdict latency and throughput at 1, 10 and 40 concurrent clients.

    python bench/load.py                        # starts its own server (dev mode, temp data folder, real sandbox)
    python bench/load.py --url http://127.0.0.1:8000
    python bench/load.py --levels 1,10,40 --requests 400 --max-seconds 60

Each client uploads a correct ``nn.py``, waits for the verdict (polling when the answer is 202, retrying after
``Retry-After`` on 503) and checks it scored full marks; latency runs from the start of the upload to the
verdict in hand. Every level is bounded by a request count and a time limit, and traffic goes to loopback only.
Prints one table (Markdown) with p50/p95/p99 latency and throughput per level; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "submissions" / "correct_vectorised.py"


@dataclass
class Level:
    clients: int
    latencies: list[float] = field(default_factory=list)
    wrong: int = 0
    refused: int = 0
    """503 answers (each retried after Retry-After)."""
    queued: int = 0
    """202 answers (the verdict came by polling)."""
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest rank
        return ordered[index]

    def row(self) -> str:
        done = len(self.latencies)
        throughput = done / self.seconds if self.seconds else 0.0
        return (
            f"| {self.clients} | {done} | {self.percentile(50) * 1000:.0f} | {self.percentile(95) * 1000:.0f} | "
            f"{self.percentile(99) * 1000:.0f} | {throughput:.1f} | {self.queued} | {self.refused} | {self.wrong} |"
        )


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing to load {url}: this benchmark only targets loopback addresses")


async def _verdict(client: httpx.AsyncClient, source: bytes, deadline: float, level: Level) -> dict | None:
    files = {"file": ("nn.py", source, "text/x-python")}
    while True:
        response = await client.post("/submissions", files=files, data={"student": f"load{level.clients}"})
        if response.status_code != 503:
            break
        level.refused += 1
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        if time.monotonic() > deadline:
            return None
    response.raise_for_status()
    body = response.json()
    if response.status_code == 202:
        level.queued += 1
    while body["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)
        body = (await client.get(f"/submissions/{body['id']}")).json()
    return body  # type: ignore[no-any-return]


async def _run_level(url: str, source: bytes, clients: int, requests: int, max_seconds: float) -> Level:
    level = Level(clients)
    remaining = requests
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1  # single-threaded event loop: no lock needed
            started = time.perf_counter()
            verdict = await _verdict(client, source, deadline, level)
            if verdict is None:
                return
            level.latencies.append(time.perf_counter() - started)
            if verdict.get("status") != "graded" or verdict.get("score") != verdict.get("max_score"):
                level.wrong += 1

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        level.seconds = time.perf_counter() - started
    return level


def _start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONV1D_DEV": "1"}
    env.pop("CONV1D_TOKEN", None)
    command = [sys.executable, "-m", "grader", "serve", "--port", str(port), "--data", str(data)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not answer /healthz within 30 s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (loopback only); default: start one")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the nn.py to upload (must score full marks)")
    parser.add_argument("--levels", default="1,10,40", help="concurrent clients per level, comma-separated")
    parser.add_argument("--requests", type=int, default=None, help="uploads per level [default: 20 + 5 x clients]")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time limit per level")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    source = args.file.read_bytes()

    process = None
    with tempfile.TemporaryDirectory(prefix="conv1d-load-") as tmp:
        url = args.url
        if url is None:
            port = _free_port()
            process = _start_server(Path(tmp) / "data", port)
            url = f"http://127.0.0.1:{port}"
        _loopback_only(url)
        try:
            health = httpx.get(f"{url}/healthz", timeout=5).json()
            asyncio.run(_run_level(url, source, 2, 6, 30))  # warm-up: the sandbox's first forks, caches
            results = []
            for clients in levels:
                requests = args.requests or 20 + 5 * clients
                results.append(asyncio.run(_run_level(url, source, clients, requests, args.max_seconds)))
                print(f"  {clients} client(s): done", file=sys.stderr)
        finally:
            if process is not None:
                process.terminate()
                process.wait(20)

    print(
        f"\n{os.cpu_count()} cores, {health.get('workers')} grading workers, capacity {health.get('capacity')}; "
        f"file {args.file.name}; latency = upload start to verdict in hand\n"
    )
    print("| clients | verdicts | p50 ms | p95 ms | p99 ms | verdicts/s | 202s | 503s | wrong |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in results:
        print(level.row())
    if any(level.wrong for level in results):
        print("\nWARNING: some verdicts were not full marks", file=sys.stderr)


if __name__ == "__main__":
    main()
