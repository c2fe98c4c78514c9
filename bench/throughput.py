"""Single-machine throughput benchmark of issue #5 ("Fast on one machine").

    python bench/throughput.py                      # every setting; table to docs/benchmarks.md
    python bench/throughput.py --quick --out /tmp/b.md   # fewer iterations, smaller DB

Starts the project's LLM test double (evoforge/testing/llm_double.py, a real
OpenAI-compatible HTTP server on 127.0.0.1 whose 'perturb' mode nudges numeric
constants of the parent) in this process and runs real `python -m evoforge run`
processes (real sandbox) on bench/problems/tunable, copied per setting into a
temporary directory with the evaluation cost (EVAL_MS of busy CPU in the trusted
scorer) baked into its evaluator.py.

Per setting it measures
  - iterations/s in steady state, from the run DB's proposals.created_at (the
    first 10 % of the proposals are skipped: start-up and pipeline fill), and end
    to end (iterations / wall time of the process, start-up included);
  - CPU per iteration of the evoforge controller process itself (utime+stime of
    its threads from /proc/PID/stat over the same steady-state window): sandbox
    and evaluation processes are its children and are not included, neither is the
    LLM double (it runs in this process); the CPU of the whole tree (controller +
    evaluation processes) is reported too;
  - peak summed PSS of the process tree (the controller and every descendant),
    sampled from /proc/PID/smaps_rollup every 0.1 s;
and compares with the physical limit min(C / latency, cores / evaluation time).

The database-size experiment seeds a run DB directly (evoforge.database.store.Store)
with 1,000 and 100,000 programs (each with a proposal carrying a realistic prompt),
resumes it and measures the controller's CPU per iteration, then times
`evoforge status --json` and `evoforge best --json` on the 100k database (each a
fresh CLI process, interpreter start-up included).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evoforge.testing.llm_double import LLMDouble  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from common import CORES, PROBLEM, Sampler, _env, problem_copy  # noqa: E402,F401


def run_cli(args: list[str], run_dir: Path, *, skip: int | None = None, first_iteration: int = 0) -> dict:
    """Run `python -m evoforge ARGS` under the sampler; measure the proposals it adds."""
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "evoforge", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
    sampler = Sampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    wall = time.time() - t0
    sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"evoforge {' '.join(args[:2])} failed ({proc.returncode}): {err[-2000:]}")
    with sqlite3.connect(run_dir / "evoforge.db") as con:
        times = [r[0] for r in con.execute("SELECT created_at FROM proposals WHERE iteration > ? "
                                           "ORDER BY created_at", (first_iteration,))]
        outcomes = dict(con.execute("SELECT outcome, COUNT(*) FROM proposals WHERE iteration > ? GROUP BY outcome",
                                    (first_iteration,)).fetchall())
        best = con.execute("SELECT MAX(score) FROM programs WHERE valid = 1").fetchone()[0]
    n = len(times)
    k0 = n // 10 if skip is None else skip
    window = times[-1] - times[k0]
    steady = (n - 1 - k0) / window if window > 0 else float("nan")
    cpu_ctl = (sampler.cpu_at(times[-1]) - sampler.cpu_at(times[k0])) / max(n - 1 - k0, 1)
    cpu_tree = (sampler.cpu_at(times[-1], 2) - sampler.cpu_at(times[k0], 2)) / max(n - 1 - k0, 1)
    return {"iterations": n, "wall_s": wall, "it_s": steady, "it_s_e2e": n / wall,
            "cpu_ms_per_it": 1000 * cpu_ctl,
            "tree_cpu_ms_per_it": 1000 * cpu_tree,
            "peak_pss_mb": sampler.peak_pss_kb / 1024, "outcomes": outcomes, "best": best,
            "pss_denied": sampler.pss_denied, "pss_gone": sampler.pss_gone}


def throughput(base: Path, double: LLMDouble, *, latency: float, c: int, eval_ms: float, m: int,
               iterations: int, name: str) -> dict:
    double.set_latency(latency)
    problem = problem_copy(base, eval_ms)
    out = base / f"run-{name}"
    res = run_cli(["run", str(problem), "--api-base", double.base_url, "--model", "m", "--iterations",
                   str(iterations), "--out", str(out), "--no-progress", "--llm-in-flight", str(c),
                   "--eval-in-flight", str(m), "--seed", "1"], out)
    limit = min(c / latency if latency else float("inf"), CORES / (eval_ms / 1000) if eval_ms else float("inf"))
    res.update(name=name, latency=latency, c=c, eval_ms=eval_ms, m=m, limit=limit, load=os.getloadavg()[0])
    return res


# -- database size ----------------------------------------------------------------------------
def seed(run_dir: Path, n: int, rng: random.Random) -> None:
    """Add n programs (one proposal each, carrying a copy of a real prompt) to a run's DB."""
    from evoforge.database.store import ProgramRecord, ProposalRecord, Store

    with Store(run_dir / "evoforge.db") as store:
        base = store.get_program(store.max_program_id())
        prop = store.con.execute("SELECT messages, reply FROM proposals ORDER BY id DESC LIMIT 1").fetchone()
        messages, reply = json.loads(prop[0]), prop[1]
        n_islands = 1 + (store.con.execute("SELECT MAX(island) FROM programs").fetchone()[0] or 0)
        start = store.max_iteration()
        store.con.execute("BEGIN")
        for i in range(start + 1, start + n + 1):
            code = re.sub(r"\d+\.\d+", lambda mt: f"{float(mt.group()) + rng.uniform(-1, 1):.4f}", base.code)
            score = -rng.uniform(1.5, 4.0)  # all below what the live run reaches, like old history
            prog = ProgramRecord(id=None, parent_id=base.id, second_parent_id=None, island=i % n_islands,
                                 generation=1 + i // 100, iteration=i, code=code, language="python", valid=True,
                                 score=score, metrics={"combined_score": score, "rmse": -score},
                                 features={"complexity": len(code) + rng.randrange(-20, 20),
                                           "hash": f"{rng.getrandbits(64):016x}"},
                                 eval_time_s=0.3, model="m", created_at=time.time() - 1e5)
            prog.id = store._insert("programs", [f for f in ProgramRecord.__dataclass_fields__], prog)
            p = ProposalRecord(id=None, iteration=i, island=prog.island, parent_id=base.id, second_parent_id=None,
                               model="m", edit_mode="diff", messages=messages, reply=reply, prompt_tokens=500,
                               completion_tokens=50, latency_s=0.0, outcome="evaluated", error=None,
                               program_id=prog.id, created_at=time.time() - 1e5)
            store._insert("proposals", [f for f in ProposalRecord.__dataclass_fields__], p)
        store.con.execute("COMMIT")


def timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evoforge", *args], check=True, stdout=subprocess.DEVNULL,
                   env=_env(), cwd=REPO)
    return time.perf_counter() - t0


def db_scale(base: Path, double: LLMDouble, sizes: list[int], iterations: int, c: int, m: int) -> list[dict]:
    double.set_latency(0)
    problem = problem_copy(base, 0)
    rows = []
    for size in sizes:
        out = base / f"run-db{size}"
        run_cli(["run", str(problem), "--api-base", double.base_url, "--model", "m", "--iterations", "10",
                 "--out", str(out), "--no-progress", "--llm-in-flight", str(c), "--eval-in-flight", str(m),
                 "--seed", "1"], out)
        t0 = time.time()
        seed(out, size - 11, random.Random(size))  # 10 iterations + the initial program
        seeded_s = time.time() - t0
        with sqlite3.connect(out / "evoforge.db") as con:
            stored = con.execute("SELECT COUNT(*) FROM programs").fetchone()[0]
            last = con.execute("SELECT MAX(iteration) FROM proposals").fetchone()[0]
        res = run_cli(["resume", str(out), "--api-base", double.base_url, "--iterations", str(iterations),
                       "--no-progress"], out, first_iteration=last)
        res.update(name=f"db{size}", stored=stored, seed_s=seeded_s, load=os.getloadavg()[0],
                   db_mb=(out / "evoforge.db").stat().st_size / 2 ** 20,
                   status_s=min(timed(["status", str(out), "--json"]) for _ in range(3)),
                   best_s=min(timed(["best", str(out), "--json"]) for _ in range(3)))
        rows.append(res)
        print(json.dumps(res), flush=True)
    return rows


# -- report -----------------------------------------------------------------------------------
def bare_python_s() -> float:
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        ts.append(time.perf_counter() - t0)
    return sorted(ts)[2]


def report(rows: list[dict], scale: list[dict], command: str) -> str:
    lines = [f"Measured on {CORES} cores, {time.strftime('%Y-%m-%d')}; command: `{command}`.", "",
             "| setting | C | M | limit it/s | steady it/s | % of limit | end-to-end it/s | controller CPU ms/it "
             "| tree CPU ms/it | peak PSS MB | best | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lim = r["limit"]
        pct = f"{100 * r['it_s'] / lim:.0f} %" if lim != float("inf") else "–"
        lines.append(f"| latency {r['latency']:g} s, eval {r['eval_ms']:g} ms | {r['c']} | {r['m']} | "
                     f"{lim:.1f} | {r['it_s']:.2f} | {pct} | {r['it_s_e2e']:.2f} | {r['cpu_ms_per_it']:.1f} | "
                     f"{r['tree_cpu_ms_per_it']:.0f} | {r['peak_pss_mb']:.0f} | {r['best']:.3f} | {r['load']:.1f} |"
                     if lim != float("inf") else
                     f"| latency {r['latency']:g} s, eval {r['eval_ms']:g} ms | {r['c']} | {r['m']} | ∞ | "
                     f"{r['it_s']:.2f} | – | {r['it_s_e2e']:.2f} | {r['cpu_ms_per_it']:.1f} | "
                     f"{r['tree_cpu_ms_per_it']:.0f} | {r['peak_pss_mb']:.0f} | {r['best']:.3f} | {r['load']:.1f} |")
    if scale:
        lines += ["", "| stored programs | DB MB | resumed iterations | steady it/s | controller CPU ms/it | "
                      "peak PSS MB | `status --json` s | `best --json` s | load avg |", "|---|---|---|---|---|---|---|---|---|"]
        for r in scale:
            lines.append(f"| {r['stored']:,} | {r['db_mb']:.0f} | {r['iterations']} | {r['it_s']:.2f} | "
                         f"{r['cpu_ms_per_it']:.1f} | {r['peak_pss_mb']:.0f} | {r['status_s']:.2f} | "
                         f"{r['best_s']:.2f} | {r['load']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer iterations and a 10k instead of a 100k DB")
    ap.add_argument("--eval-in-flight", type=int, default=CORES, help="evaluations in flight (default: cores)")
    ap.add_argument("--only", choices=["throughput", "db"], help="run one part only")
    ap.add_argument("--out", type=Path, default=None, help="write the tables (markdown) here")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "throughput.json")
    args = ap.parse_args()
    q = args.quick
    m = args.eval_in_flight
    settings = [dict(name="lat1-c16-50ms", latency=1.0, c=16, eval_ms=50, iterations=60 if q else 300),
                dict(name="lat1-c64-20ms", latency=1.0, c=64, eval_ms=20, iterations=80 if q else 400),
                dict(name="lat0-trivial", latency=0.0, c=16, eval_ms=0, iterations=60 if q else 300)]
    sizes = [1000, 10_000] if q else [1000, 100_000]
    rows, scale = [], []
    with tempfile.TemporaryDirectory(prefix="evoforge-tp-") as d, LLMDouble(latency=0.0, record=False) as double:
        base = Path(d)
        if args.only in (None, "throughput"):
            for s in settings:
                r = throughput(base, double, m=m, **s)
                rows.append(r)
                print(json.dumps(r), flush=True)
        if args.only in (None, "db"):
            scale = db_scale(base, double, sizes, iterations=60 if q else 200, c=16, m=m)
    command = "python bench/throughput.py " + " ".join(sys.argv[1:])
    table = report(rows, scale, command.strip())
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "scale": scale, "bare_python_s": bare_python_s(),
                                     "cli_help_s": timed(["--help"]),
                                     "cores": CORES}, indent=1))
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
