"""Per-run overhead of each isolation mode: ``python -m evoforge.sandbox.bench [runs]``.

Part 1 times ``python -c pass`` run bare (subprocess, same clean environment)
and through ``Sandbox.run`` in every available mode, with and without the pids
cgroup.  Part 2 times a whole hardened evaluation (trusted scorer process plus
candidate process, a trivial problem) through `Evaluator` in every mode, with
the CPU it costs: the evoforge process itself plus every sandbox process (for
the fork-server: the servers' own time and their reaped runs).  Cases are
interleaved so that load on the machine hits all alike; medians are printed.
docs/security.md and docs/benchmarks.md quote its output.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evoforge.records import Limits

from . import cgroup
from .env import clean_env
from .isolation import available_modes
from .process import Sandbox

_PROGRAM = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x + 1\n# EVOLVE-BLOCK-END\n"
_SCORER = "def score(candidate):\n    return {'combined_score': float(candidate.call('f', 1))}\n"


def _cpu_of(pid: int) -> float:
    """utime + stime + reaped children's, of a process that has not been reaped yet."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(ev) -> float:
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    for box in ev._boxes:
        if box._server is not None:
            total += _cpu_of(box._server.proc.pid)
    return total


def run_processes(runs: int, wd: Path) -> None:
    env, argv = clean_env(wd), [sys.executable, "-c", "pass"]
    cases = {"bare python": lambda: subprocess.run(argv, cwd=wd, env=env, check=True)}
    boxes = []
    for mode, ok in available_modes().items():
        for use_cg in ([True, False] if cgroup.available() else [False]):
            if ok:
                box = Sandbox(Limits(), mode, use_cgroup=use_cg)
                boxes.append(box)
                cases[f"{mode} ({'cgroup' if use_cg else 'no cgroup'})"] = (
                    lambda box=box: box.run(argv, workdir=wd, env=env))
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name in times:
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
    for box in boxes:
        box.close()
    base = statistics.median(times["bare python"])
    print("python -c pass:")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:24s} median {med * 1000:6.0f} ms   overhead {(med - base) * 1000:+5.0f} ms")


def run_evaluations(runs: int, wd: Path) -> None:
    from evoforge.evaluate import Evaluator
    from evoforge.problem import load_problem

    (wd / "problem").mkdir()
    (wd / "problem" / "initial_program.py").write_text(_PROGRAM)
    (wd / "problem" / "evaluator.py").write_text(_SCORER)
    problem = load_problem(str(wd / "problem"))
    evs = {mode: Evaluator(problem, isolation=mode) for mode, ok in available_modes().items() if ok}
    for ev in evs.values():
        ev.evaluate(problem.initial_code)  # start-up (the fork-servers start here)
    wall: dict[str, list[float]] = {m: [] for m in evs}
    cpu: dict[str, float] = {m: 0.0 for m in evs}
    for _ in range(runs):
        for mode, ev in evs.items():
            c0, t0 = _tree_cpu(ev), time.perf_counter()
            result = ev.evaluate(problem.initial_code)
            wall[mode].append(time.perf_counter() - t0)
            cpu[mode] += _tree_cpu(ev) - c0
            assert result.valid, result.error
    for ev in evs.values():
        ev.close()
    print("hardened evaluation (scorer + candidate process), trivial problem:")
    for mode in evs:
        print(f"  {mode:12s} median {statistics.median(wall[mode]) * 1000:6.1f} ms wall   "
              f"{cpu[mode] / runs * 1000:6.1f} ms CPU (all processes)")


def main(runs: int = 20) -> None:
    with tempfile.TemporaryDirectory(prefix="evoforge-bench-") as d:
        run_processes(runs, Path(d))
        run_evaluations(runs, Path(d))
    print(f"load average: {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
