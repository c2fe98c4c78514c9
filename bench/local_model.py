"""Measure the local model on the shipped examples: runnable-candidate rate and time to improve.

    python bench/local_model.py --examples bin_packing circle_packing --seeds 0 1 2 --iterations 20

Each (example, seed) is a real `evoforge run ... --model local` (the same engine,
prompts and sandbox a user gets).  From each run's database it reports, over all replies:
- runnable: the reply gave a new program (the edit applied and changed it) that ran to the
  end under the evaluator and got its verdict: a valid score, or its output rejected by the
  scorer (`invalid`: e.g. a NaN priority).  Not runnable: no usable edit, a copy of the
  parent, and programs that raised, crashed, or hit a limit (time, memory, ...);
- valid: the stricter share whose program also scored as valid;
- whether and when (iteration, seconds from the start) the best score first beat the initial program.
Results go to bench/results/local_model.json and a Markdown table on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(run_dir: Path) -> dict:
    con = sqlite3.connect(f"file:{run_dir / 'evoforge.db'}?mode=ro", uri=True)
    props = con.execute("SELECT p.outcome, p.error, g.valid, g.failure_kind FROM proposals p "
                        "LEFT JOIN programs g ON g.id = p.program_id").fetchall()
    initial = con.execute("SELECT score, created_at FROM programs WHERE iteration = 0 ORDER BY id LIMIT 1").fetchone()
    direction = json.loads(con.execute("SELECT value FROM meta WHERE key = 'objective'").fetchone()[0])["direction"]
    sign = 1 if direction == "maximize" else -1
    better = con.execute("SELECT iteration, created_at, score FROM programs WHERE valid = 1 AND iteration > 0 "
                         "AND ? * score > ? * ? ORDER BY iteration LIMIT 1", (sign, sign, initial[0])).fetchone()
    best = con.execute(f"SELECT {'MAX' if sign > 0 else 'MIN'}(score) FROM programs WHERE valid = 1").fetchone()[0]
    tokens = con.execute("SELECT SUM(completion_tokens), SUM(latency_s) FROM proposals").fetchone()
    con.close()
    valid = sum(1 for o, _e, v, _k in props if o == "evaluated" and v)
    ran = sum(1 for o, _e, v, k in props if o == "evaluated" and (v or k == "invalid"))
    reasons: dict[str, int] = {}
    for o, e, v, k in props:
        if not (o == "evaluated" and v):
            key = (e or "?").split(":", 1)[0] if o != "evaluated" else f"candidate_{k}"
            reasons[key] = reasons.get(key, 0) + 1
    return {"proposals": len(props), "runnable": ran, "rate": ran / max(len(props), 1), "valid": valid,
            "valid_rate": valid / max(len(props), 1),
            "not_valid": reasons, "initial_score": initial[0], "best_score": best,
            "improved": better is not None, "first_improvement_iteration": better[0] if better else None,
            "first_improvement_s": round(better[1] - initial[1], 1) if better else None,
            "completion_tokens": tokens[0], "llm_seconds": round(tokens[1] or 0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", nargs="+", default=["bin_packing", "circle_packing"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "local_model"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for example in args.examples:
        for seed in args.seeds:
            run_dir = out / f"{example}-seed{seed}"
            load = [round(os.getloadavg()[0], 1)]
            if not (run_dir / "evoforge.db").exists():
                t0 = time.monotonic()
                cmd = [sys.executable, "-m", "evoforge", "run", str(ROOT / "examples" / example), "--model", "local",
                       "--iterations", str(args.iterations), "--seed", str(seed), "--out", str(run_dir),
                       "--no-progress", "--llm-in-flight", "1"]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                load.append(round(os.getloadavg()[0], 1))  # other work on the machine slows the model down
                (run_dir / "bench_wall.json").write_text(json.dumps(
                    {"wall_s": round(time.monotonic() - t0, 1), "load_avg_start_end": load}))
            # A rerun reuses finished runs (and their timing), so a long series can be resumed.
            timing = json.loads((run_dir / "bench_wall.json").read_text()) if (run_dir / "bench_wall.json").exists() \
                else {"wall_s": None, "load_avg_start_end": load}
            row = {"example": example, "seed": seed, **timing, **measure(run_dir)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    (out.parent / "local_model.json").write_text(json.dumps(rows, indent=1))
    print("| example | seed | runnable | valid | initial | best | first improvement (iteration, s) | wall s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        imp = f"{r['first_improvement_iteration']}, {r['first_improvement_s']}" if r["improved"] else "none"
        print(f"| {r['example']} | {r['seed']} | {r['runnable']}/{r['proposals']} ({r['rate']:.0%}) | "
              f"{r['valid']}/{r['proposals']} ({r['valid_rate']:.0%}) | "
              f"{r['initial_score']:.6g} | {r['best_score']:.6g} | {imp} | {r['wall_s']} | "
              f"{'-'.join(map(str, r['load_avg_start_end']))} |")
    n = max(sum(r["proposals"] for r in rows), 1)
    for key in ("runnable", "valid"):
        k = sum(r[key] for r in rows)
        print(f"\n{key} overall: {k}/{n} ({k / n:.0%})", end="")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
