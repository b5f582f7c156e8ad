"""Load test of the dashboard: N signed-in users for T seconds against a server on 127.0.0.1.

Seeds a fresh SQLite store (``--cells`` cells, weekly and shift runs, cameras, places,
incidents, one viewer account per user), starts ``crimecast serve`` in its own process (waitress,
``--threads`` threads, exactly as deployed), then runs one client thread per user. Users sign
in through the form (token and cookie) spread over ``--ramp`` seconds, then loop until the deadline (and at most
``--max-iterations`` times): the page shell, the Dash layout, the period-list callback, the
map callback for a random stored run and measure, and every fifth time a cell click (cell
history from the incidents), with a think time between requests. Prints requests per second
and p50/p95/p99 latency per route, errors, the server's peak RSS and its CPU time during the
load (per request: what a busy shared machine distorts least); ``--json`` adds one
JSON object on the last line.

Usage::

    uv run python benchmarks/bench_load.py                           # 50 users, 60 s, 10,000 cells
    uv run python benchmarks/bench_load.py --users 10 --seconds 20 --cells 2500
    uv run python benchmarks/bench_load.py --url http://127.0.0.1:8050 --password-prefix pw-  # a running server

Timings on a shared machine are upper bounds: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "load-test-password-"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(n_cells: int, n_users: int) -> tuple[Path, dict]:
    """A migrated SQLite store in a temporary data directory, filled like a small deployment."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic city is test support
    from forecasting.config import load_settings
    from forecasting.store import migrate
    from forecasting.store.session import make_engine, make_session_factory
    from tests.support.synthetic import seed_store  # noqa: E402

    data = Path(tempfile.mkdtemp(prefix="crimecast-load-"))
    settings = load_settings(data_dir=str(data), _toml_file=None)
    migrate.upgrade(settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    users = {f"load{i}": (f"{PASSWORD}{i}", "viewer") for i in range(n_users)}
    info = seed_store(make_session_factory(engine), n_cells=n_cells, n_incidents=20_000, seed=11, users=users,
                      boundaries_dir=data / "boundaries")
    engine.dispose()
    return data, info


def start_server(data: Path, threads: int) -> tuple[subprocess.Popen, str]:
    """``crimecast serve`` in its own process; returns it and its URL once /healthz answers."""
    import requests

    port = _free_port()
    env = {**os.environ, "CRIMECAST_DATA_DIR": str(data), "CRIMECAST_SECRET_KEY": "load-test-secret-key-0123456789"}
    log = open(data / "server.log", "wb")  # a file, not a pipe: an unread pipe would block the server
    proc = subprocess.Popen([sys.executable, "-m", "forecasting", "serve", "--port", str(port),
                             "--threads", str(threads)], cwd=REPO, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {(data / 'server.log').read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("the server did not answer /healthz within 120 s")


def _callback(outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]], changed: str,
              state: list[tuple[str, str, object]] = ()) -> dict:
    """The JSON body Dash's renderer posts to /_dash-update-component."""
    out = "..." .join(f"{i}.{p}" for i, p in outputs)
    return {"output": f"..{out}.." if len(outputs) > 1 else out,
            "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
            else {"id": outputs[0][0], "property": outputs[0][1]},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "changedPropIds": [changed], "state": [{"id": i, "property": p, "value": v} for i, p, v in state]}


class Stats:
    """Latencies and errors per route, shared by the user threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def timed(self, route: str, fn):
        t = time.perf_counter()
        try:
            r = fn()
            ok = r.status_code < 400
            why = f"HTTP {r.status_code}"
        except Exception as exc:  # noqa: BLE001 - a load test counts every failure
            r, ok, why = None, False, type(exc).__name__
        dt = time.perf_counter() - t
        with self.lock:
            self.times[route].append(dt)
            if not ok:
                self.errors[route].append(why)
        return r if ok else None


def user_loop(i: int, url: str, password: str, run_ids: list[int], cell_ids: list[tuple[int, int]], stats: Stats,
              deadline: float, think: float, max_iterations: int, ramp: float = 0.0) -> None:
    """One user: sign in, then browse the risk map until the deadline."""
    import requests

    from dashboards import ids

    rng = random.Random(i)
    time.sleep(ramp * i)  # users arrive over the ramp-up, as a shift does, not all in the same second
    s = requests.Session()
    page = stats.timed("GET /login", lambda: s.get(url + "/login", timeout=60))
    if page is None:
        return
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    signed = stats.timed("POST /login", lambda: s.post(url + "/login", timeout=60, allow_redirects=False, data={
        "username": f"load{i}", "password": password, "csrf": token, "next": "/"}))
    if signed is None or signed.status_code != 302:
        return
    for n in range(max_iterations):
        if time.monotonic() > deadline:
            return
        run = rng.choice(run_ids)
        measure = rng.choice(["expected_count", "probability"])
        steps = [
            ("GET /", "GET", "/", None),
            ("GET /_dash-layout", "GET", "/_dash-layout", None),
            ("periods callback", "POST", "/_dash-update-component", _callback(
                [(ids.MAP_PERIOD, "options"), (ids.MAP_PERIOD, "value")],
                [(ids.MAP_PERIOD_KIND, "value", rng.choice(["week", "shift"])), (ids.MAP_CATEGORY, "value", "all")],
                f"{ids.MAP_PERIOD_KIND}.value", [(ids.MAP_PERIOD, "value", run)])),
            ("map callback", "POST", "/_dash-update-component", _callback(
                [(ids.MAP_GRAPH, "figure"), (ids.MAP_STATUS, "children")],
                [(ids.MAP_PERIOD, "value", run), (ids.MAP_MEASURE, "value", measure),
                 (ids.MAP_LAYERS, "value", ["cameras", "boundaries"]), (ids.MAP_SELECTED_CELL, "data", None)],
                f"{ids.MAP_PERIOD}.value", [(ids.MAP_GRAPH, "relayoutData", None)])),
        ]
        if n % 5 == 4:
            x, y = rng.choice(cell_ids)
            steps.append(("cell callback", "POST", "/_dash-update-component", _callback(
                [(ids.MAP_SELECTED_CELL, "data"), (ids.CELL_PANEL, "children")],
                [(ids.MAP_GRAPH, "clickData", {"points": [{"curveNumber": 0, "x": x, "y": y}]})],
                f"{ids.MAP_GRAPH}.clickData", [(ids.MAP_PERIOD, "value", run)])))
        for route, method, path, body in steps:
            if time.monotonic() > deadline:
                return
            stats.timed(route, lambda m=method, p=path, b=body: s.request(m, url + p, json=b, timeout=60))
            if think:
                time.sleep(rng.uniform(0, 2 * think))


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``): less sensitive to a busy machine than latency."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def report(stats: Stats, seconds: float) -> list[dict]:
    rows = []
    for route, ts in sorted(stats.times.items()):
        a = np.asarray(ts) * 1000
        rows.append({"route": route, "requests": len(a), "errors": len(stats.errors.get(route, [])),
                     "req_per_s": round(len(a) / seconds, 1), "p50_ms": round(float(np.percentile(a, 50))),
                     "p95_ms": round(float(np.percentile(a, 95))), "p99_ms": round(float(np.percentile(a, 99)))})
    print(f"{'route':<20}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for r in rows:
        print(f"{r['route']:<20}{r['requests']:>9}{r['errors']:>8}{r['req_per_s']:>8}{r['p50_ms']:>8}"
              f"{r['p95_ms']:>8}{r['p99_ms']:>8}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=8, help="waitress threads of the server")
    ap.add_argument("--think", type=float, default=0.5, help="mean think time between requests, seconds")
    ap.add_argument("--max-iterations", type=int, default=10_000, help="bound on each user's loop")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the users sign in")
    ap.add_argument("--url", help="a running server instead of a fresh one (accounts load0.. must exist)")
    ap.add_argument("--password-prefix", default=PASSWORD, help="with --url: password of loadN is prefix + N")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    proc = None
    if args.url:
        url, run_ids, cell_ids = args.url.rstrip("/"), [1], []
    else:
        t = time.perf_counter()
        data, info = seed(args.cells, args.users)
        print(f"seeded {args.cells:,} cells and {args.users} accounts in {time.perf_counter() - t:.1f} s", flush=True)
        run_ids = [int(r) for ids_ in info["run_ids"].values() for r in ids_]
        cells = info["cells"]  # clicks address the raster: column and row from the grid's corner
        cell_ids = list(zip((cells["col"] - cells["col"].min()).astype(int).tolist(),
                            (cells["row"] - cells["row"].min()).astype(int).tolist(), strict=True))
        proc, url = start_server(data, args.threads)
    stats = Stats()
    cpu0 = _cpu_seconds(proc.pid) if proc else None
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [threading.Thread(target=user_loop, daemon=True, name=f"user{i}", args=(
        i, url, f"{args.password_prefix}{i}", run_ids, cell_ids, stats, deadline, args.think, args.max_iterations,
        args.ramp / max(args.users, 1)))
        for i in range(args.users)]
    try:
        for th in threads:
            th.start()
        end = deadline + 120  # requests time out after 60 s: every user is done by then
        for th in threads:
            th.join(timeout=max(0.0, end - time.monotonic()))
        elapsed = time.monotonic() - start
        print(f"\n{args.users} users signing in over {args.ramp:g} s, {elapsed:.0f} s, {args.cells:,} cells, "
              f"{args.threads} server threads, think time {args.think} s mean (machine shared: upper bounds)")
        rows = report(stats, elapsed)
        total = sum(r["requests"] for r in rows)
        errors = {k: sorted(set(v)) for k, v in stats.errors.items() if v}
        rss = _peak_rss_mib(proc.pid) if proc else None
        cpu1 = _cpu_seconds(proc.pid) if proc else None
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        print(f"total {total:,} requests ({total / elapsed:.1f}/s), errors: {errors or 0}"
              + (f"; server peak RSS {rss:.0f} MiB" if rss else "")
              + (f"; server CPU {cpu:.1f} s ({1000 * cpu / max(total, 1):.1f} ms per request)" if cpu else ""))
        if proc is not None:
            print(f"server log: {data / 'server.log'}")
        if args.json:
            print(json.dumps({"users": args.users, "seconds": round(elapsed, 1), "cells": args.cells,
                              "routes": rows, "errors": errors, "server_peak_rss_mib": rss, "server_cpu_s": cpu}))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
