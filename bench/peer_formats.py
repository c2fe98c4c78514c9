"""The side-by-side bench's peers (bench/peers.py): their virtual environments, and the
`tunable` problem written in OpenEvolve's and ShinkaEvolve's own layouts."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from common import PROBLEM

PEERS = {  # name -> (pip requirement, distribution name)
    "openevolve": ("openevolve==0.4.0", "openevolve"),
    "shinka": ("shinka-evolve==0.0.7", "shinka-evolve"),
}
INVALID_SCORE = -10.0  # what the peers are told for an invalid candidate (the initial program scores about -1.8)

def ensure_venv(root: Path, name: str) -> Path:
    """The python of the peer's venv under root, created and pip-installed if missing."""
    req, dist = PEERS[name]
    venv = root / name
    py = venv / "bin" / "python"
    want = req.split("==")[1]
    check = [str(py), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"]
    if py.exists():
        got = subprocess.run(check, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == want:
            return py
    print(f"[peers] creating {venv} and installing {req} (once)", file=sys.stderr, flush=True)
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", req], check=True)
    got = subprocess.run(check, capture_output=True, text=True, check=True)
    if got.stdout.strip() != want:
        raise RuntimeError(f"{venv}: expected {dist} {want}, found {got.stdout.strip()!r}")
    return py


# -- the problem in each peer's layout -----------------------------------------------------------
def scorer_source(eval_ms: float) -> str:
    """bench/problems/tunable/evaluator.py with EVAL_MS baked in (its `score(candidate)`)."""
    text = (PROBLEM / "evaluator.py").read_text()
    return re.sub(r"^EVAL_MS = .*$", f"EVAL_MS = {eval_ms!r}", text, count=1, flags=re.M)


# Appended to the scorer in both peers' evaluators: load the candidate in-process, give
# score() the candidate.call(name) it expects, and log (time, score) for the bench.
ADAPTER = '''

# ---- added by bench/peers.py: adapter from the peer's evaluator API to score(candidate) ----
import importlib.util as _ilu
import json as _json
import os as _os

_BENCH_LOG = {log!r}


class _Candidate:
    def __init__(self, path):
        spec = _ilu.spec_from_file_location("candidate_program", path)
        self._mod = _ilu.module_from_spec(spec)
        spec.loader.exec_module(self._mod)

    def call(self, name, *args):
        return getattr(self._mod, name)(*args)


def _score_file(path):
    try:
        res = score(_Candidate(path))
    except Exception as err:  # noqa: BLE001 - a broken candidate is an invalid one
        res = {{"valid": False, "error": f"{{type(err).__name__}}: {{err}}"}}
    ok = res.get("valid", True) is not False
    line = _json.dumps({{"t": time.time(), "score": res["combined_score"] if ok else None}}) + "\\n"
    fd = _os.open(_BENCH_LOG, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
    try:
        _os.write(fd, line.encode())
    finally:
        _os.close(fd)
    return ok, res
'''

OPENEVOLVE_EVALUATE = '''

def evaluate(program_path):
    ok, res = _score_file(program_path)
    if not ok:
        return {{"combined_score": {invalid!r}, "rmse": {bad!r}}}
    return {{"combined_score": res["combined_score"], "rmse": res["rmse"]}}
'''

SHINKA_MAIN = '''

def main(program_path, results_dir):
    ok, res = _score_file(program_path)
    _os.makedirs(results_dir, exist_ok=True)
    if ok:
        metrics = {{"combined_score": res["combined_score"], "public": {{"rmse": res["rmse"]}}, "private": {{}}}}
    else:
        metrics = {{"combined_score": {invalid!r}, "public": {{}}, "private": {{}}}}
    with open(_os.path.join(results_dir, "metrics.json"), "w") as f:
        _json.dump(metrics, f)
    with open(_os.path.join(results_dir, "correct.json"), "w") as f:
        _json.dump({{"correct": ok, "error": None if ok else res.get("error")}}, f)


if __name__ == "__main__":
    import argparse as _argparse

    _p = _argparse.ArgumentParser()
    _p.add_argument("--program_path", required=True)
    _p.add_argument("--results_dir", required=True)
    _a = _p.parse_args()
    main(_a.program_path, _a.results_dir)
'''

SHINKA_LAUNCHER = '''"""Runs ShinkaEvolve's own CLI (shinka.cli.run.main, i.e. `shinka_run`); written by bench/peers.py."""
import sys

UNCAPPED = {uncapped!r}
if UNCAPPED:
    # ShinkaEvolveRunner clamps the requested concurrency to the core count; lift that
    # clamp (in memory only) so the requested numbers are used as given.
    from shinka.core.async_runner import ShinkaEvolveRunner

    ShinkaEvolveRunner._validate_concurrency_settings = lambda self, e, p, d, c: (e, p, d)

from shinka.cli.run import main

sys.exit(main(sys.argv[1:]))
'''


def openevolve_dir(base: Path, eval_ms: float, log: Path, url: str, c: int) -> Path:
    d = base / f"openevolve-{eval_ms:g}ms"
    d.mkdir(parents=True, exist_ok=True)
    (d / "initial_program.py").write_text((PROBLEM / "initial_program.py").read_text())
    (d / "evaluator.py").write_text(scorer_source(eval_ms) + ADAPTER.format(log=str(log))
                                    + OPENEVOLVE_EVALUATE.format(invalid=INVALID_SCORE, bad=-INVALID_SCORE))
    # Defaults everywhere except: the endpoint, the parallelism, no cascade (the
    # evaluator has no evaluate_stage1), and a timeout that the double's latency fits.
    (d / "config.yaml").write_text(textwrap.dedent(f"""\
        # written by bench/peers.py
        llm:
          api_base: "{url}"
          api_key: "dummy"
          models:
            - name: "m"
              weight: 1.0
        evaluator:
          parallel_evaluations: {c}
          cascade_evaluation: false
        """))
    return d


def shinka_dir(base: Path, eval_ms: float, log: Path, uncapped: bool) -> Path:
    d = base / f"shinka-{eval_ms:g}ms{'-uncapped' if uncapped else ''}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "initial.py").write_text((PROBLEM / "initial_program.py").read_text())
    (d / "evaluate.py").write_text(scorer_source(eval_ms) + ADAPTER.format(log=str(log))
                                   + SHINKA_MAIN.format(invalid=INVALID_SCORE))
    (d / "launch.py").write_text(SHINKA_LAUNCHER.format(uncapped=uncapped))
    return d


# -- running and measuring -----------------------------------------------------------------------
