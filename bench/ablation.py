"""Ablation of issue #6 features 1, 2, 4 and 6 with the LLM test double.

Runs the real CLI (`python -m evoforge run ...`, real sandbox) against the
OpenAI-compatible test double (evoforge/testing/llm_double.py; its 'perturb'
mode nudges 1-3 numeric constants of the program in the prompt), with the same
seeds and the same number of LLM calls with and without each feature, and
writes the best-score distribution table to docs/ablations.md.

    python bench/ablation.py --seeds 8            # the table in docs/ablations.md
    python bench/ablation.py --seeds 3 --calls 20 --no-bin-packing --out /tmp/a.md   # quicker

Problems: bench/problems/curve_fit (six constants of a curve, ~0.3 s per
evaluation) for every feature, and examples/bin_packing (~2.5 s per evaluation)
for novelty rejection only, where the double can only add comments (the
starting program has no numeric constant), so every child is a duplicate.

Experiments (each: one config per arm, every seed, the same LLM-call budget):
  - adaptive ensemble (1): two models with equal prior weight, `good` (the double
    in perturb mode) and `bad` (a second double in garbage mode: prose, no edit);
    prior weights only vs `llm.adaptive: true`;
  - meta-prompt (2), novelty (4), crossover (6): one model (`good`), feature off
    vs on.  Meta-prompt requests are LLM calls too, so the meta-prompt arm gets
    fewer iterations to make the same number of calls in total.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evoforge.testing.llm_double import LLMDouble  # noqa: E402



class KeyedDouble(LLMDouble):
    """The test double, answering by content: the same prompt gets the same reply whatever the
    arrival order (its usual random stream follows arrival order, which depends on timing).
    With one LLM request and one evaluation in flight, a run is then reproducible, so a
    difference between two arms comes from the feature, not from scheduling."""

    def _decide(self, req):
        return super()._decide({**req, "seed": 0})


CURVE = REPO / "bench" / "problems" / "curve_fit"
BINS = REPO / "examples" / "bin_packing"
META_INTERVAL = 10


def arms(good: str, bad: str) -> list[tuple[str, str, dict]]:
    """(experiment, arm, config) - the first arm of each experiment is its control."""
    one = {"search": {"num_islands": 2}, "llm": {"models": [{"name": "good", "api_base": good}]}}
    two = {"search": {"num_islands": 2}, "llm": {"models": [{"name": "good", "api_base": good},
                                                            {"name": "bad", "api_base": bad}]}}
    with_ = lambda base, extra: _merge(base, extra)  # noqa: E731
    return [
        ("1 adaptive ensemble", "prior weights", two),
        ("1 adaptive ensemble", "llm.adaptive", with_(two, {"llm": {"adaptive": True}})),
        ("2 meta-prompt", "off", one),
        ("2 meta-prompt", "meta_prompt.enabled", with_(one, {"meta_prompt": {"enabled": True,
                                                                             "propose_interval": META_INTERVAL}})),
        ("4 novelty", "off", one),
        ("4 novelty", "novelty.enabled (code)", with_(one, {"novelty": {"enabled": True}})),
        ("6 crossover", "off", one),
        ("6 crossover", "crossover_probability 0.3", with_(one, {"prompt": {"crossover_probability": 0.3}})),
    ]


def _merge(a: dict, b: dict) -> dict:
    out = json.loads(json.dumps(a))
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def iterations_for(config: dict, calls: int) -> int:
    """Iterations that make `calls` LLM calls in total (meta-prompt requests included)."""
    if not (config.get("meta_prompt") or {}).get("enabled"):
        return calls
    n = calls
    while n + n // META_INTERVAL > calls:
        n -= 1
    return n


def one_run(problem: Path, config: dict, seed: int, calls: int, work: Path) -> dict:
    with KeyedDouble(seed=seed) as good, KeyedDouble(seed=seed, mode="garbage") as bad:
        text = json.dumps(config).replace("{GOOD}", good.base_url).replace("{BAD}", bad.base_url)
        cfg = work / f"c{seed}.yaml"
        cfg.write_text(yaml.safe_dump(json.loads(text)))
        out = work / f"run{seed}"
        shutil.rmtree(out, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "evoforge", "run", str(problem), "--config", str(cfg),
                               "--out", str(out), "--no-progress", "--seed", str(seed),
                               "--iterations", str(iterations_for(config, calls)),
                               "--llm-in-flight", "1", "--eval-in-flight", "1"],
                              capture_output=True, text=True, env=env, timeout=1800)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        llm_calls = len(good.requests) + len(bad.requests)
    with sqlite3.connect(out / "evoforge.db") as con:
        best = con.execute("SELECT MAX(score) FROM programs WHERE valid = 1").fetchone()[0]
        evals, eval_s = con.execute("SELECT COUNT(*), COALESCE(SUM(eval_time_s), 0) FROM programs "
                                    "WHERE iteration > 0").fetchone()
        rejected = con.execute("SELECT COUNT(*) FROM proposals WHERE outcome = 'novelty_rejected'").fetchone()[0]
        good_calls = con.execute("SELECT COUNT(*) FROM proposals WHERE model = 'good'").fetchone()[0]
        improved = con.execute("SELECT COUNT(*) FROM programs c JOIN programs p ON c.parent_id = p.id "
                               "WHERE c.valid = 1 AND p.valid = 1 AND c.score > p.score").fetchone()[0]
    return {"seed": seed, "best": best, "llm_calls": llm_calls, "evaluations": evals, "eval_s": eval_s,
            "rejected": rejected, "good_calls": good_calls, "improved": improved, "wall_s": wall}


def summarise(runs: list[dict]) -> dict:
    bests = [r["best"] for r in runs]
    return {"median": statistics.median(bests), "mean": statistics.fmean(bests),
            "sd": statistics.stdev(bests) if len(bests) > 1 else 0.0, "min": min(bests), "max": max(bests),
            "llm_calls": statistics.fmean(r["llm_calls"] for r in runs),
            "evaluations": statistics.fmean(r["evaluations"] for r in runs),
            "eval_s": statistics.fmean(r["eval_s"] for r in runs),
            "rejected": statistics.fmean(r["rejected"] for r in runs),
            "improved": statistics.fmean(r["improved"] for r in runs),
            "good_share": statistics.fmean(r["good_calls"] / max(r["llm_calls"], 1) for r in runs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4, help="seeds per arm (default 4)")
    ap.add_argument("--calls", type=int, default=30, help="LLM calls per run (default 30)")
    ap.add_argument("--bin-packing-calls", type=int, default=4, help="LLM calls per bin-packing run (default 4)")
    ap.add_argument("--bin-packing-seeds", type=int, default=2, help="seeds for the bin-packing runs (default 2)")
    ap.add_argument("--no-bin-packing", action="store_true", help="skip the bin-packing novelty runs")
    ap.add_argument("--out", default=str(REPO / "docs" / "ablations.md"), help="Markdown file to write")
    ap.add_argument("--json", default=str(REPO / "bench" / "results" / "ablation.json"), help="raw results")
    ap.add_argument("--render-only", action="store_true", help="rewrite --out from the --json results, no runs")
    args = ap.parse_args(argv)
    if args.render_only:
        saved = json.loads(Path(args.json).read_text())
        Path(args.out).write_text(render(saved["results"], saved["command"], argparse.Namespace(**saved["args"]),
                                         saved["total_s"]))
        return 0
    seeds = list(range(1, args.seeds + 1))
    results: list[dict] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evoforge-ablation-") as tmp:
        done: dict[str, list[dict]] = {}  # the controls of 2, 4 and 6 are the same config: run it once
        for k, (exp, arm, config) in enumerate(arms("{GOOD}", "{BAD}")):
            key = json.dumps(config, sort_keys=True)
            if key not in done:
                work = Path(tmp) / f"arm{k}"
                work.mkdir()
                done[key] = [one_run(CURVE, config, s, args.calls, work) for s in seeds]
            runs = done[key]
            results.append({"problem": "curve_fit", "experiment": exp, "arm": arm, "config": config,
                            "runs": runs, **summarise(runs)})
            print(f"{exp:22s} {arm:28s} median {results[-1]['median']:.4f}  "
                  f"{[round(r['best'], 4) for r in runs]}", file=sys.stderr, flush=True)
        if not args.no_bin_packing:
            one = {"search": {"num_islands": 2}, "llm": {"models": [{"name": "good", "api_base": "{GOOD}"}]}}
            for k, (arm, config) in enumerate([("off", one),
                                               ("novelty.enabled (code)", _merge(one, {"novelty": {"enabled": True}}))]):
                work = Path(tmp) / f"bins{k}"
                work.mkdir()
                runs = [one_run(BINS, config, s, args.bin_packing_calls, work)
                        for s in range(1, args.bin_packing_seeds + 1)]
                results.append({"problem": "bin_packing", "experiment": "4 novelty", "arm": arm, "config": config,
                                "runs": runs, **summarise(runs)})
                print(f"bin_packing {arm:28s} evals {results[-1]['evaluations']}", file=sys.stderr, flush=True)
    total = time.monotonic() - t_start
    cmd = "python bench/ablation.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in (("seeds", args.seeds), ("calls", args.calls))
        if v != ap.get_default(k))
    if args.no_bin_packing:
        cmd += " --no-bin-packing"
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"command": cmd, "total_s": total, "args": vars(args), "results": results},
                                          indent=1))
    Path(args.out).write_text(render(results, cmd, args, total))
    print(f"wrote {args.out} ({total:.0f} s)", file=sys.stderr)
    return 0


def render(results: list[dict], cmd: str, args, total: float) -> str:
    lines = ["# Feature ablations (issue #6: features 1, 2, 4, 6)", "",
             "Produced by", "", "```", cmd, "```", "",
             f"({total / 60:.1f} minutes wall-clock on the 2-core development machine while other jobs were "
             "using it; the run's own CPU time is a small part of that, and the default 4 seeds take under 3 "
             "minutes on a quiet machine.)  "
             "Real CLI runs, real sandbox, the OpenAI-compatible LLM test double as the model "
             "(`perturb` mode: it nudges 1-3 numeric constants of the program it is shown; here it answers "
             "by content, so the same prompt gets the same reply, and runs keep one LLM request and one "
             "evaluation in flight, so a run is reproducible and a difference between arms comes from the "
             "feature, not from scheduling). "
             f"Every arm of an experiment uses the same seeds ({', '.join(map(str, range(1, args.seeds + 1)))}; "
             "the run seed is also the double's seed) and the same number of LLM calls per run "
             "(the `LLM calls` column is measured at the double). Best score = best `combined_score` "
             "of the run (higher is better). `evaluations`, `improved on parent` (children that beat their "
             "parent) and `good` share (calls that went to the model `good`) are means per run.", "",
             f"## curve_fit (bench/problems/curve_fit, {args.calls} LLM calls per run, 2 islands)", "",
             "| experiment | arm | median best | mean ± sd | min | max | per seed | LLM calls | evaluations | "
             "improved on parent | `good` share |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["problem"] != "curve_fit":
            continue
        per_seed = " ".join(f"{x['best']:.3f}" for x in r["runs"])
        lines.append(f"| {r['experiment']} | {r['arm']} | {r['median']:.4f} | {r['mean']:.4f} ± {r['sd']:.4f} | "
                     f"{r['min']:.4f} | {r['max']:.4f} | {per_seed} | {r['llm_calls']:.1f} | "
                     f"{r['evaluations']:.1f} | {r['improved']:.1f} | {100 * r['good_share']:.0f}% |")
    bins = [r for r in results if r["problem"] == "bin_packing"]
    if bins:
        lines += ["", f"## bin_packing novelty (examples/bin_packing, {args.bin_packing_calls} LLM calls per run, "
                      f"{args.bin_packing_seeds} seeds)", "",
                  "| arm | best score (all seeds) | LLM calls | evaluations | evaluation time (s) | rejected |",
                  "|---|---|---|---|---|---|"]
        for r in bins:
            best = " ".join(f"{x['best']:.4f}" for x in r["runs"])
            lines.append(f"| {r['arm']} | {best} | {r['llm_calls']:.1f} | {r['evaluations']:.1f} | "
                         f"{r['eval_s']:.1f} | {r['rejected']:.1f} |")
    lines += ["", "## Feature vs control, seed by seed (curve_fit)", "",
              "| experiment | arm | Δ median best | seeds better / equal / worse |", "|---|---|---|---|"]
    curve = [r for r in results if r["problem"] == "curve_fit"]
    for control, arm in zip(curve[0::2], curve[1::2]):
        pairs = list(zip(arm["runs"], control["runs"]))
        better = sum(a["best"] > c["best"] + 1e-12 for a, c in pairs)
        worse = sum(a["best"] < c["best"] - 1e-12 for a, c in pairs)
        lines.append(f"| {arm['experiment']} | {arm['arm']} | {arm['median'] - control['median']:+.4f} | "
                     f"{better} / {len(pairs) - better - worse} / {worse} |")
    lines += ["", "## Reading", "", NOTES.strip(), ""]
    return "\n".join(lines) + "\n"


NOTES = """
Written by hand from the numbers above. The runs are reproducible: two invocations of this
command (one on a loaded machine) gave identical numbers, seeds 1-4 also matched an earlier
4-seed invocation, and the novelty arm equals its control on every seed where nothing was
rejected. The seed-to-seed spread of the best score (sd about 0.25) is large against the
differences between arms: with 8 seeds, a difference of the median below about 0.2, or a
better/worse split like 5/3, is not evidence either way.

- **1 adaptive ensemble: the bandit does what it is built for; the best score did not gain.**
  With one useless model (`bad` answers prose, never an edit) and equal prior weights, it moved
  the share of calls to `good` from 51% to 68%, so each run made 31% more evaluated proposals
  (20.2 vs 15.4 of 30 calls) and 16% more children that beat their parent (12.8 vs 11.0). The
  best score of the run was nevertheless worse on 5 of 8 seeds (median -1.93 vs -1.63): with
  30 calls the best is dominated by which random nudges a trajectory happens to get, and
  changing which calls go where changes the trajectory. So: more useful work per call,
  measured; a better best score, not shown with the double.
- **2 meta-prompt: no measurable effect with the double, as expected.** The double ignores the
  instruction text, so the variants cannot help by what they say; the arm differs from the
  control only because the prompts differ (a content-keyed double then gives other random
  nudges) and because 2 of the 30 calls asked for new variants instead of programs (28
  evaluations). 5 seeds better, 3 worse, the median lower and the mean higher: noise. Its
  value depends on a model that follows instructions; not measured here.
- **4 novelty: saves evaluations; no clear effect on the best score with the double.** On
  curve_fit almost no candidate reached the 0.98 threshold (a nudged constant in a ~50-token
  program gives a similarity around 0.9); the two seeds with one rejected duplicate each ended
  better (-1.00 vs -1.30, -1.53 vs -1.81), the other six equal the control. On bin_packing the
  double can only add comments (the starting program has no numeric constant to nudge): every
  candidate is a duplicate, and novelty rejected all of them before evaluation, with the same
  best score and no evaluation time (vs 4 evaluations per run without it). That is the
  feature's point: not paying for evaluations that cannot teach anything.
- **6 crossover: no effect with the double, as expected.** The double always edits the first
  program in the prompt (the first parent) and cannot combine two programs; the arm differs
  from the control only through the longer prompt (other random nudges). 5 seeds better, 3
  worse, median -0.03: noise.

Not measured: the same ablation with the local model or a real endpoint (features 2 and 6 need
a model that reads the prompt); the local model would take hours at this budget on this machine.
"""


if __name__ == "__main__":
    raise SystemExit(main())
