"""evoforge side by side with OpenEvolve 0.4.0 and ShinkaEvolve 0.0.7 (issue #5).

    python bench/peers.py                        # both settings, 1000 LLM calls at latency 0 (~25 min on 2 cores)
    python bench/peers.py --calls 100 --iterations 60 --out /tmp/p.md   # a quick look (~4 min)
    python bench/peers.py --from-json bench/results/peers.json           # redraw plot + table only

What it does, all in one invocation:

1. Creates, if missing, one virtual environment per peer OUTSIDE the repository
   (default ~/.cache/evoforge-bench/venvs/, override with --venvs or
   $EVOFORGE_BENCH_VENVS) and pip-installs `openevolve==0.4.0` into one and
   `shinka-evolve==0.0.7` into the other (PyPI, the ordinary pip client).
2. Writes bench/problems/tunable (eight constants against a hidden target) in each
   peer's own layout into a temporary directory: OpenEvolve gets initial_program.py,
   evaluator.py with `evaluate(path)` and config.yaml; ShinkaEvolve gets initial.py,
   evaluate.py with `main(program_path, results_dir)` (writing metrics.json and
   correct.json) and a small launcher around its own `shinka_run` CLI. The scoring code
   is the text of bench/problems/tunable/evaluator.py itself (same EVAL_MS busy-CPU
   cost, same minus-RMSE score), pasted into each peer's evaluator; evoforge runs a
   copy of the problem directory with EVAL_MS baked in, exactly like
   bench/throughput.py.
3. Starts evoforge's LLM test double in this process (perturb mode: it nudges 1-3
   numeric constants of the program in the prompt, answering with a SEARCH/REPLACE
   diff or a rewrite as the prompt asks) and points every system at its
   OpenAI-compatible base URL with a dummy key.
4. Runs each system, one after the other, as a real process tree on two settings:
     lat1: LLM latency 1 s, evaluation 50 ms, 16 requests in flight, --iterations
           LLM calls (default 200);
     lat0: LLM latency 0, trivial evaluation (EVAL_MS 0), --calls LLM calls (default 1000).
5. Reports per system and setting, measured the same way for all three:
     - iterations/s in steady state: completed evaluations after the first 10 %,
       divided by the time they took (evoforge: proposals.created_at of its run DB;
       the peers: a timestamp the evaluator appends to a log when it finishes);
     - CPU per iteration of the whole process tree (utime+stime of the root, its live
       descendants and every reaped descendant, from /proc; the LLM double in this
       process is excluded for everyone), over the steady window and over the first
       and the last 10 % of the iterations (how it grows over the run);
     - peak memory: the maximum over 0.1 s samples of the summed Pss of
       /proc/PID/smaps_rollup over the process tree;
     - best score (minus RMSE; 0 is perfect) after the run's LLM calls, and best score
       as a function of the LLM calls served by the double so far.
   Raw results go to bench/results/peers.json, the markdown table to stdout (and
   --out), a plot to docs/img/peers.png.

Parallelism: evoforge runs with --llm-in-flight 16 --eval-in-flight <cores>;
OpenEvolve with evaluator.parallel_evaluations 16 (16 worker processes, each doing
LLM call + evaluation in turn; it has no separate evaluation limit); ShinkaEvolve is
asked for --max-proposal-jobs 16 --max-evaluation-jobs <cores>, but its runner caps
these by the core count (on 2 cores: 1 proposal and 1 evaluation at a time), so at
latency 1 s an extra ShinkaEvolve run has that clamp monkeypatched away in its launcher
(the installed package is not modified; `--no-shinka-uncapped` skips it). Everything
else is each system's default.

The double answers with the *parent* perturbed: OpenEvolve and ShinkaEvolve put other
programs before the parent in their prompts, so `ParentDouble` below picks the program
under the "# Current program" heading (evoforge's prompt starts with it, so for evoforge
this is exactly the plain double). It also ignores the `seed` of a request (unless
--honour-seeds): OpenEvolve sends the same seed with every request, and a double that
answers equal prompts + seed identically makes it re-evaluate the same child over and
over (in a 60-call trial: 12 distinct scores in 61 evaluations).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import CORES, Sampler, _env, problem_copy  # noqa: E402
from evoforge.testing.llm_double import LLMDouble  # noqa: E402
from peer_formats import PEERS, ensure_venv, openevolve_dir, shinka_dir  # noqa: E402
from evoforge.testing.perturb import START, asks_for_diff, propose  # noqa: E402

SYSTEMS = ("evoforge", "openevolve", "shinka")
DEFAULT_VENVS = Path(os.environ.get("EVOFORGE_BENCH_VENVS", Path.home() / ".cache" / "evoforge-bench" / "venvs"))


# -- the LLM double, told which program in the prompt is the parent ---------------------------
_FENCE = re.compile(r"^[ \t]*```([^\n]*)\n(.*?)^[ \t]*```", re.M | re.S)
_CURRENT = re.compile(r"^#+[ \t]*current program\b", re.I | re.M)


def current_program(messages: list[dict]) -> tuple[str, str] | None:
    """(code, fence info) of the first fenced EVOLVE program after the last "# Current program"
    heading of the last user message that has an EVOLVE block; None if there is no such heading."""
    for msg in reversed(messages):
        content = msg.get("content")
        if msg.get("role") != "user" or not isinstance(content, str) or START not in content:
            continue
        content = content.replace("\r\n", "\n")
        heads = list(_CURRENT.finditer(content))
        if not heads:
            return None
        for m in _FENCE.finditer(content, heads[-1].end()):
            if START in m.group(2):
                return m.group(2), m.group(1).strip()
        return None
    return None


class ParentDouble(LLMDouble):
    """evoforge's LLM double, perturbing the parent ("# Current program") rather than the first program
    of the prompt.  OpenEvolve and ShinkaEvolve show top/prior programs *before* the parent, so the plain
    double would answer with SEARCH blocks that do not match the parent (Shinka then resamples, OpenEvolve
    evaluates an unchanged child).  evoforge's prompt starts with "# Current program": the same program as
    the plain double picks, so its behaviour there is unchanged.  Prompts without that heading fall back
    to the plain double."""

    honour_seeds = False

    def _decide(self, req):
        if not self.honour_seeds and "seed" in req:  # see --honour-seeds
            req = {k: v for k, v in req.items() if k != "seed"}
        return super()._decide(req)

    def _generate(self, mode, messages, rng):
        found = current_program(messages) if mode == "perturb" else None
        if found is None:
            return super()._generate(mode, messages, rng)
        code, lang = found
        rf = self.rewrite_fraction
        rewrite = (not asks_for_diff(messages)) if rf is None else rng.random() < rf
        return propose(code, rng, rewrite=rewrite, lang=lang or "python")


# -- virtual environments -------------------------------------------------------------------
def _peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "PYTHON", "VIRTUAL_ENV", "ANTHROPIC", "GEMINI", "GOOGLE"))}
    env["OPENAI_API_KEY"] = "dummy"
    return env


def _kill_tree(proc: subprocess.Popen) -> None:
    """End the process group this bench started for the run (its id is the run's pid)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
            return
        except subprocess.TimeoutExpired:
            continue


def _events_from_log(log: Path) -> list[tuple[float, float | None]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out.append((float(rec["t"]), rec["score"]))
    return sorted(out)


def _events_from_evoforge(run_dir: Path) -> list[tuple[float, float | None]]:
    with sqlite3.connect(run_dir / "evoforge.db") as con:
        # Completion of an iteration: its program stored (after evaluation), or the proposal
        # recorded when it produced no program.
        rows = con.execute("SELECT COALESCE(g.created_at, p.created_at) AS t, CASE WHEN g.valid = 1 THEN g.score END "
                           "FROM proposals p LEFT JOIN programs g ON g.id = p.program_id ORDER BY t").fetchall()
    return [(float(t), s) for t, s in rows]


def measure(name: str, cmd: list[str], *, env: dict, cwd: Path, log_file: Path, double: LLMDouble,
            latency: float, events, timeout: float, skip_before_first_call: bool) -> dict:
    """Run cmd as its own process group under the sampler and measure it."""
    double.control(reset=True)
    double.control(latency=latency, clear_requests=True)
    offset = time.time() - time.monotonic()
    t0 = time.time()
    with open(log_file, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc)
        wall = time.time() - t0
        sampler.stop()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of this run's own group, if any
        except ProcessLookupError:
            pass
    calls = sorted(r["t"] + offset for r in double.requests)
    served = double.stats["served"]
    ev = events()
    if skip_before_first_call and calls:  # the peers' log also holds the initial program's evaluation
        ev = [e for e in ev if e[0] > calls[0]]
    res: dict = {"system": name, "returncode": proc.returncode, "timed_out": timed_out, "wall_s": wall,
                 "llm_calls": len(calls), "llm_served": served, "iterations": len(ev),
                 "invalid": sum(1 for _, s in ev if s is None), "load": os.getloadavg()[0],
                 "peak_pss_mb": sampler.peak_pss_kb / 1024, "pss_denied": sampler.pss_denied,
                 "command": cmd}
    if proc.returncode not in (0, None) or len(ev) < 10:
        res["log_tail"] = log_file.read_text(errors="replace")[-3000:]
    if len(ev) < 10:
        res.update(error="fewer than 10 evaluations completed", it_s=float("nan"))
        return res
    times = [t for t, _ in ev]
    n = len(times)
    k0 = n // 10

    def cpu_per_it(a: int, b: int, col: int = 2) -> float:  # ms per iteration between events a and b
        return 1000 * (sampler.cpu_at(times[b], col) - sampler.cpu_at(times[a], col)) / max(b - a, 1)

    window = times[-1] - times[k0]
    res.update(it_s=(n - 1 - k0) / window if window > 0 else float("nan"), it_s_e2e=n / wall,
               tree_cpu_ms_per_it=cpu_per_it(k0, n - 1), root_cpu_ms_per_it=cpu_per_it(k0, n - 1, 1),
               cpu_first10_ms=cpu_per_it(0, max(k0, 1)), cpu_last10_ms=cpu_per_it(n - 1 - max(k0, 1), n - 1))
    bins = 20 if n >= 40 else 5
    edges = [round(i * (n - 1) / bins) for i in range(bins + 1)]
    res["cpu_curve"] = [[(a + b) / 2, cpu_per_it(a, b)] for a, b in zip(edges, edges[1:]) if b > a]
    best, curve, j = None, [], 0
    for t, s in ev:
        while j < len(calls) and calls[j] <= t:
            j += 1
        if s is not None and (best is None or s > best):
            best = s
            curve.append([j, best])
    res["best"] = best
    res["best_curve"] = curve + ([[len(calls), best]] if best is not None else [])
    res["done_curve"] = [[round(t - t0, 3), i + 1] for i, (t, _) in enumerate(ev)][:: max(1, n // 200)]
    return res


def run_setting(setting: dict, systems: list[str], base: Path, double: LLMDouble, pythons: dict[str, Path],
                c: int, m: int, timeout: float, shinka_uncapped: bool) -> list[dict]:
    lat, eval_ms, calls, tag = setting["latency"], setting["eval_ms"], setting["calls"], setting["name"]
    rows = []
    runs = [(s, False) for s in systems]
    if shinka_uncapped and "shinka" in systems and lat > 0:
        runs.append(("shinka", True))
    for system, uncapped in runs:
        label = system + (" (cap lifted)" if uncapped else "")
        work = base / f"{tag}-{system}{'-uncapped' if uncapped else ''}"
        work.mkdir()
        log = work / "evaluations.jsonl"
        if system == "evoforge":
            problem = problem_copy(base, eval_ms)
            out = work / "run"
            cmd = [sys.executable, "-m", "evoforge", "run", str(problem), "--api-base", double.base_url,
                   "--model", "m", "--iterations", str(calls), "--out", str(out), "--no-progress",
                   "--llm-in-flight", str(c), "--eval-in-flight", str(m), "--seed", "1"]
            kw = dict(env=_env(), cwd=REPO, events=lambda out=out: _events_from_evoforge(out),
                      skip_before_first_call=False)
        elif system == "openevolve":
            d = openevolve_dir(work, eval_ms, log, double.base_url, c)
            cmd = [str(pythons["openevolve"].parent / "openevolve-run"), str(d / "initial_program.py"),
                   str(d / "evaluator.py"), "--config", str(d / "config.yaml"), "--iterations", str(calls),
                   "--output", str(work / "out")]
            kw = dict(env=_peer_env(), cwd=d, events=lambda log=log: _events_from_log(log),
                      skip_before_first_call=True)
        else:
            d = shinka_dir(work, eval_ms, log, uncapped)
            model = f"local/m@{double.base_url}"
            cmd = [str(pythons["shinka"]), str(d / "launch.py"), "--task-dir", str(d),
                   "--results_dir", str(work / "out"), "--num_generations", str(calls + 1),  # gen 0 = initial
                   "--max-proposal-jobs", str(c), "--max-evaluation-jobs", str(m),
                   "--set", f"evo.llm_models={json.dumps([model])}",
                   "--set", "evo.embedding_model=none"]  # the double serves no /embeddings
            kw = dict(env=_peer_env(), cwd=d, events=lambda log=log: _events_from_log(log),
                      skip_before_first_call=True)
        print(f"[peers] {tag}: {label} ...", file=sys.stderr, flush=True)
        r = measure(label, cmd, log_file=work / "stdout.log", double=double, latency=lat, timeout=timeout, **kw)
        limit = min(c / lat if lat else float("inf"), CORES / (eval_ms / 1000) if eval_ms else float("inf"))
        r.update(setting=tag, latency=lat, eval_ms=eval_ms, c=c, m=m, budget_calls=calls, limit=limit)
        print(json.dumps({k: v for k, v in r.items() if not k.endswith("curve")}), file=sys.stderr, flush=True)
        rows.append(r)
    return rows


# -- report ---------------------------------------------------------------------------------------
def _f(x, fmt: str) -> str:
    return "–" if x is None or x != x else format(x, fmt)


def report(rows: list[dict], command: str, measured: str | None = None) -> str:
    measured = measured or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"Measured on {CORES} cores, {measured}; "
             f"command: `{command}`.", "",
             "| setting | system | LLM calls | iterations | steady it/s | % of limit | tree CPU ms/it "
             "(steady) | CPU ms/it first → last 10 % | peak PSS MB | best score | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lim = r["limit"]
        setting = f"latency {r['latency']:g} s, eval {r['eval_ms']:g} ms, {r['c']} in flight"
        pct = f"{100 * r['it_s'] / lim:.0f} %" if lim != float("inf") and r.get("it_s") == r.get("it_s") else "–"
        note = " (timed out)" if r.get("timed_out") else (" (failed)" if r.get("error") else "")
        lines.append(f"| {setting} | {r['system']}{note} | {r['llm_calls']} | {r['iterations']} | "
                     f"{_f(r.get('it_s'), '.2f')} | {pct} | {_f(r.get('tree_cpu_ms_per_it'), '.0f')} | "
                     f"{_f(r.get('cpu_first10_ms'), '.0f')} → {_f(r.get('cpu_last10_ms'), '.0f')} | "
                     f"{r['peak_pss_mb']:.0f} | {_f(r.get('best'), '.3f')} | {r['load']:.1f} |")
    return "\n".join(lines) + "\n"


def _finite(row: dict) -> dict:
    """The row with inf/nan numbers as null, so the file is strict JSON (limit at latency 0 is infinite)."""
    return {k: (None if isinstance(v, float) and v != v or v in (float("inf"), float("-inf")) else v)
            for k, v in row.items()}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"evoforge": "tab:blue", "openevolve": "tab:orange", "shinka": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    lat0 = [r for r in rows if r["latency"] == 0 and r.get("best_curve")]
    lat1 = [r for r in rows if r["latency"] > 0 and r.get("done_curve")]

    def style(r):
        base = r["system"].split()[0]
        return dict(color=colors.get(base, "gray"), ls="--" if "cap" in r["system"] else "-", label=r["system"])

    ax = axes[0]
    for r in lat0:
        xs, ys = zip(*r["best_curve"])
        ax.step(xs, ys, where="post", **style(r))
    ax.set(title="best score vs LLM calls (latency 0, trivial eval)", xlabel="LLM calls served",
           ylabel="best score (−RMSE, 0 is perfect)")
    ax = axes[1]
    for r in lat0:
        xs, ys = zip(*r["cpu_curve"])
        ax.plot(xs, ys, marker=".", **style(r))
    ax.set(title="tree CPU per iteration over the run (latency 0)", xlabel="iteration",
           ylabel="CPU ms / iteration", yscale="log")
    ax = axes[2]
    for r in lat1:
        xs, ys = zip(*r["done_curve"])
        ax.plot(xs, ys, **style(r))
    if lat1:
        ax.set(title=f"progress at latency {lat1[0]['latency']:g} s, eval {lat1[0]['eval_ms']:g} ms",
               xlabel="seconds since the process started", ylabel="evaluations completed")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _git_state() -> dict:
    """Which evoforge was measured: HEAD and whether the package's files differ from it (read-only git)."""
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    return {"head": git("rev-parse", "HEAD"), "evoforge_dirty": bool(git("status", "--porcelain", "--", "evoforge"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000, help="LLM calls per system at latency 0 (default 1000)")
    ap.add_argument("--iterations", type=int, default=200, help="LLM calls per system at latency 1 s (default 200)")
    ap.add_argument("--latency", type=float, default=1.0, help="LLM latency of the first setting (default 1 s)")
    ap.add_argument("--eval-ms", type=float, default=50, help="evaluation cost of the first setting (default 50)")
    ap.add_argument("--in-flight", type=int, default=16, help="LLM requests in flight (default 16)")
    ap.add_argument("--eval-in-flight", type=int, default=CORES, help="evoforge/Shinka evaluations at once (cores)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--only", choices=["lat1", "lat0"], help="run one setting only")
    ap.add_argument("--no-shinka-uncapped", dest="shinka_uncapped", action="store_false",
                    help="skip the extra latency-1 s run of ShinkaEvolve with its core-count concurrency cap "
                         "lifted (monkeypatched in its launcher)")
    ap.add_argument("--honour-seeds", action="store_true",
                    help="let the double answer the same prompt + request seed with the same reply (OpenEvolve "
                         "sends one fixed seed with every request; by default the double ignores request seeds)")
    ap.add_argument("--venvs", type=Path, default=DEFAULT_VENVS, help=f"where the peers' venvs live ({DEFAULT_VENVS})")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is killed (default 1800)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "peers.json")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "peers.png")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (runs, logs) and print it")
    ap.add_argument("--from-json", type=Path, metavar="JSON",
                    help="run nothing: redraw the plot and reprint the table of an earlier results file")
    args = ap.parse_args()
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        rows = [dict(r, limit=float("inf") if r.get("limit") is None else r["limit"]) for r in data["rows"]]
        table = report(rows, data["command"], data.get("measured_at"))
        print(table)
        plot(rows, args.plot)
        if args.out:
            args.out.write_text(table)
        return
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown system(s) {sorted(unknown)}")
    pythons = {p: ensure_venv(args.venvs, p) for p in PEERS if p in systems}
    settings = [dict(name="lat1", latency=args.latency, eval_ms=args.eval_ms, calls=args.iterations),
                dict(name="lat0", latency=0.0, eval_ms=0, calls=args.calls)]
    settings = [s for s in settings if args.only in (None, s["name"])]
    command = ("python bench/peers.py " + " ".join(sys.argv[1:])).strip()
    rows: list[dict] = []
    base = Path(tempfile.mkdtemp(prefix="evoforge-peers-"))
    load_start = open("/proc/loadavg").read().strip()
    git_start = _git_state()
    try:
        ParentDouble.honour_seeds = args.honour_seeds
        with ParentDouble(latency=0.0, record=True) as double:
            for s in settings:
                rows += run_setting(s, systems, base, double, pythons, args.in_flight, args.eval_in_flight,
                                    args.timeout, args.shinka_uncapped)
    finally:
        if args.keep:
            print(f"[peers] kept {base}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
    table = report(rows, command)
    print(table)
    versions = {p: subprocess.run([str(py), "-c", f"import importlib.metadata as m; print(m.version({PEERS[p][1]!r}))"],
                                  capture_output=True, text=True).stdout.strip() for p, py in pythons.items()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": command, "cores": CORES, "versions": versions,
                                     "loadavg_start": load_start,
                                     "git_start": git_start, "git_end": _git_state(),
                                     "loadavg_end": open("/proc/loadavg").read().strip(),
                                     "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     "rows": [_finite(r) for r in rows]}, indent=1))
    plot(rows, args.plot)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
