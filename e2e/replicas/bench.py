#!/usr/bin/env python3
"""Figures for docs/replicas.md: what the PostgreSQL thread store costs a turn, and the
throughput of one replica against three behind nginx, on this machine.

Every turn is a `codex-reply` (2026-07-28, plain HTTP through nginx) whose mock model answers
at once, so a turn's time is the server's own work: loading, lease, commit. On a 2-core machine
three replicas share the same two cores, so read the throughput as overhead, not scaling.

Environment: CODEX_BIN (default target/debug/codex; use a release build for figures),
BENCH_TURNS (default 40 per measurement), BENCH_CLIENTS (default 6).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import Cluster, Failed, result_text, thread_of  # noqa: E402


def turn_latency(cluster: Cluster, turns: int) -> list[float]:
    """Milliseconds per `codex-reply` turn, sequential, on one thread."""
    result, _ = cluster.mcp.call("codex", {"prompt": "ECHO start"})
    thread = thread_of(result)
    times = []
    for n in range(turns):
        started = time.perf_counter()
        result, _ = cluster.mcp.call("codex-reply", {"threadId": thread, "prompt": f"ECHO {n}"})
        times.append((time.perf_counter() - started) * 1000)
        if result.get("isError"):
            raise Failed(f"turn {n}: {result_text(result)}")
    return times


def throughput(cluster: Cluster, clients: int, turns: int) -> float:
    """Turns per second with `clients` threads each running `turns` turns of its own thread."""
    threads = []
    for c in range(clients):
        result, _ = cluster.mcp.call("codex", {"prompt": f"ECHO client {c}"})
        threads.append(thread_of(result))
    errors: list[str] = []

    def client(thread: str) -> None:
        for n in range(turns):
            result, _ = cluster.mcp.call("codex-reply", {"threadId": thread, "prompt": f"ECHO {n}"})
            if result.get("isError"):
                errors.append(result_text(result))

    workers = [threading.Thread(target=client, args=(t,)) for t in threads]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(600)
    elapsed = time.perf_counter() - started
    if errors:
        raise Failed(f"{len(errors)} turns failed: {errors[:3]}")
    return clients * turns / elapsed


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.1f} ms, mean {statistics.mean(times):.1f} ms, p90 {sorted(times)[int(len(times) * 0.9)]:.1f} ms"


def with_cluster(codex_bin: str, replicas: int, shared: bool, run):  # noqa: ANN001, ANN201
    work = Path(tempfile.mkdtemp(prefix="codex-bench-"))
    cluster = Cluster(codex_bin, work, replicas=replicas, shared=shared)
    try:
        return run(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    codex_bin = os.path.abspath(os.environ.get("CODEX_BIN", "target/debug/codex"))
    turns = int(os.environ.get("BENCH_TURNS", "40"))
    clients = int(os.environ.get("BENCH_CLIENTS", "6"))
    print(f"bench: {codex_bin}, {turns} turns per measurement, {clients} clients, {os.cpu_count()} CPUs")
    files = with_cluster(codex_bin, 1, False, lambda c: turn_latency(c, turns))
    print(f"turn latency, files, 1 replica:      {summary(files)}")
    pg = with_cluster(codex_bin, 1, True, lambda c: turn_latency(c, turns))
    print(f"turn latency, PostgreSQL, 1 replica: {summary(pg)}")
    hop = with_cluster(codex_bin, 3, True, lambda c: turn_latency(c, turns))
    print(f"turn latency, PostgreSQL, 3 replicas round-robin (every turn hops): {summary(hop)}")
    files_one = with_cluster(codex_bin, 1, False, lambda c: throughput(c, clients, turns))
    print(f"throughput, files, 1 replica:       {files_one:.1f} turns/s")
    one = with_cluster(codex_bin, 1, True, lambda c: throughput(c, clients, turns))
    print(f"throughput, PostgreSQL, 1 replica:  {one:.1f} turns/s")
    three = with_cluster(codex_bin, 3, True, lambda c: throughput(c, clients, turns))
    print(f"throughput, PostgreSQL, 3 replicas: {three:.1f} turns/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
