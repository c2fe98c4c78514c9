"""Best score after equal LLM calls for search-config variants (evoforge only), on the
side-by-side bench's problem and LLM double (bench/peers.py, latency 0, trivial evaluation).

    python bench/selection.py --calls 1000 --seeds 1 2 3 \\
        --variant pressure1='{"search": {"exploitation_pressure": 1}}' \\
        --variant pressure2='{"search": {"exploitation_pressure": 2}}'

Each variant is a JSON config (written to a YAML file and passed with --config); it prints the
best score of every seed and the median.  This is how the default exploitation pressure was chosen
(docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, _env, problem_copy  # noqa: E402
from peers import ParentDouble  # noqa: E402


def best_of(run: subprocess.CompletedProcess) -> float:
    text = run.stdout + run.stderr
    k = text.rfind('{"run_dir"')
    if run.returncode != 0 or k < 0:
        raise SystemExit(f"evoforge run failed (status {run.returncode}):\n{text[-2000:]}")
    return json.loads(text[k:].splitlines()[0])["best_score"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                    help="a config variant; repeatable (default: the defaults only)")
    args = ap.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) or {"defaults": "{}"}
    base = Path(tempfile.mkdtemp(prefix="evoforge-selection-"))
    double = ParentDouble(latency=0.0)
    double.start()
    try:
        problem = problem_copy(base, 0)
        for name, cfg in variants.items():
            config = base / f"{name}.yaml"
            config.write_text(json.dumps(json.loads(cfg)))  # JSON is YAML
            scores = []
            for seed in args.seeds:
                cmd = [sys.executable, "-m", "evoforge", "run", str(problem), "--api-base", double.base_url,
                       "--model", "m", "--iterations", str(args.calls), "--out", str(base / f"{name}-{seed}"),
                       "--no-progress", "--llm-in-flight", "16", "--seed", str(seed), "--config", str(config)]
                scores.append(best_of(subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO)))
            print(f"{name}: best after {args.calls} calls {[round(s, 3) for s in scores]}, "
                  f"median {statistics.median(scores):.3f}", flush=True)
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
