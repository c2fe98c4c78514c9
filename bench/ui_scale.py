"""Dashboard at scale: seed a synthetic run of N programs, time every API endpoint.

    python bench/ui_scale.py [--programs 100000] [--keep DIR]

Seeds the database through ``evoforge.database.store.Store`` (as the engine writes
it), starts the real dashboard server on 127.0.0.1, and reports for each endpoint
the time of the first (cold) and a repeated (cached) request and the payload size.
Fails (exit 1) if a payload is not bounded (larger than 2 MB).  Results for one
machine are in docs/dashboard.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from ui_helpers import seed_large  # noqa: E402

ENDPOINTS = ["summary", "series", "failures", "models", "programs?limit=50", "programs?sort=-id&status=failed",
             "lineage", "lineage?top=200", "archive", "pareto", "config", "program/{best}"]
LIMIT = 2_000_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=100_000)
    ap.add_argument("--keep", metavar="DIR", help="keep the seeded run here (reused if it exists)")
    args = ap.parse_args()
    from evoforge.ui.server import make_server

    run = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="evoforge-ui-bench-"))
    try:
        if not (run / "evoforge.db").exists():
            run.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            seed_large(run / "evoforge.db", args.programs)
            print(f"seeded {args.programs:,} programs in {time.perf_counter() - t:.1f} s")
        server = make_server(run, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        best = None
        bad = 0
        print(f"{'endpoint':36} {'cold s':>8} {'cached s':>9} {'bytes':>10}")
        for ep in ENDPOINTS:
            if "{best}" in ep:
                ep = ep.format(best=best)
            times, size = [], 0
            for _ in range(2):
                t = time.perf_counter()
                body = urllib.request.urlopen(server.url + "api/" + ep, timeout=120).read()
                times.append(time.perf_counter() - t)
                size = len(body)
            if ep == "summary":
                best = json.loads(body)["best"]["id"]
            flag = "" if size <= LIMIT else "  <-- unbounded"
            bad += size > LIMIT
            print(f"{ep:36} {times[0]:8.3f} {times[1]:9.3f} {size:10,}{flag}")
        # A live run: more rows arrive; only they are read and folded into the aggregates.
        from evoforge.database.store import ProgramRecord, Store

        with Store(run / "evoforge.db") as store:
            for k in range(100):
                store.add_program(ProgramRecord(None, best, None, 0, 1, 10**6 + k, "x = 1\n", "python", True, 0.0,
                                                {"combined_score": 0.0, "runtime": 1.0}, features={"complexity": 6}))
        time.sleep(0.6)  # the index refreshes at most every 0.5 s
        print("after 100 more programs (a live run):")
        for ep in ("summary", "series", "failures", "lineage", "archive", "pareto", "programs?limit=50"):
            t = time.perf_counter()
            urllib.request.urlopen(server.url + "api/" + ep, timeout=120).read()
            print(f"{ep:36} {time.perf_counter() - t:8.3f}")
        server.shutdown()
        server.server_close()
        return 1 if bad else 0
    finally:
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
