"""`evoforge status|best RUN --json` at a large database (issue #5: < 1 s at 100,000 programs).

    python bench/status_scale.py --build /tmp/evoforge-status-100k     # real 10-iteration run + seed to 100k
    python bench/status_scale.py /tmp/evoforge-status-100k              # time status / best (best of 5)
    python bench/status_scale.py RUN --source /tmp/old-tree --source .  # compare source trees, interleaved

--build makes a real run on bench/problems/tunable against the LLM test double
(10 iterations, latency 0, trivial evaluation) and then seeds the DB to --size programs
with `seed` from bench/throughput.py (one program + one proposal carrying a copy of a real
prompt per seeded iteration), exactly as the database-size part of bench/throughput.py
does.  Timing runs whole `python -m evoforge status|best RUN --json` processes
(interpreter start-up and imports included) and reports the best and the median of --repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import _env  # noqa: E402


def build(out: Path, size: int) -> None:
    from common import problem_copy
    from throughput import run_cli, seed

    from evoforge.testing.llm_double import LLMDouble

    with tempfile.TemporaryDirectory(prefix="evoforge-ss-") as d, LLMDouble(latency=0.0, record=False) as double:
        problem = problem_copy(Path(d), 0)
        run_cli(["run", str(problem), "--api-base", double.base_url, "--model", "m", "--iterations", "10",
                 "--out", str(out), "--no-progress", "--seed", "1"], out)
    with sqlite3.connect(out / "evoforge.db") as con:
        stored = con.execute("SELECT COUNT(*) FROM programs").fetchone()[0]
    t0 = time.time()
    seed(out, size - stored, random.Random(size))
    print(f"seeded {size - stored} programs in {time.time() - t0:.1f} s", file=sys.stderr)


def timed(args: list[str], source: Path = REPO) -> tuple[float, str]:
    env = _env()
    env["PYTHONPATH"] = str(source) + os.pathsep + env["PYTHONPATH"]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evoforge", *args], check=True, capture_output=True, text=True,
                          env=env, cwd=source)
    return time.perf_counter() - t0, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--build", action="store_true", help="create the run directory first (must not exist)")
    ap.add_argument("--size", type=int, default=100_000, help="programs to store with --build (default 100,000)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--source", type=Path, action="append",
                    help="time the evoforge package in this source tree instead (repeatable, e.g. a checkout "
                         "before a change; runs are interleaved round by round so load changes hit all alike)")
    args = ap.parse_args()
    if args.build:
        build(args.run_dir, args.size)
    with sqlite3.connect(f"file:{args.run_dir / 'evoforge.db'}?mode=ro", uri=True) as con:
        stored = con.execute("SELECT COUNT(*) FROM programs").fetchone()[0]
    res: dict = {"run_dir": str(args.run_dir), "stored": stored,
                 "db_mb": round((args.run_dir / "evoforge.db").stat().st_size / 2 ** 20, 1)}
    sources = args.source or [REPO]
    times: dict = {(src, cmd): [] for src in sources for cmd in ("status", "best")}
    for _ in range(args.repeat):
        for src, cmd in times:
            times[(src, cmd)].append(timed([cmd, str(args.run_dir), "--json"], src)[0])
    for (src, cmd), ts in times.items():
        prefix = "" if len(sources) == 1 else f"{src}:"
        res[f"{prefix}{cmd}_s"] = round(min(ts), 3)
        res[f"{prefix}{cmd}_median_s"] = round(statistics.median(ts), 3)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    res["bare_python_s"] = round(time.perf_counter() - t0, 3)
    res["load"] = round(os.getloadavg()[0], 1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
