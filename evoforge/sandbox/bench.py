"""Per-run overhead of each isolation mode: ``python -m evoforge.sandbox.bench [runs]``.

Times ``python -c pass`` run bare (subprocess, same clean environment) and
through ``Sandbox.run`` in every available mode, with and without the pids
cgroup, interleaved so that load on the machine hits all alike; prints medians.
docs/security.md quotes its output.
"""
from __future__ import annotations

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


def main(runs: int = 20) -> None:
    with tempfile.TemporaryDirectory(prefix="evoforge-bench-") as d:
        wd = Path(d)
        env, argv = clean_env(wd), [sys.executable, "-c", "pass"]
        cases = {"bare python": lambda: subprocess.run(argv, cwd=wd, env=env, check=True)}
        for mode, ok in available_modes().items():
            for use_cg in ([True, False] if cgroup.available() else [False]):
                box = Sandbox(Limits(), mode, use_cgroup=use_cg)
                cases[f"{mode} ({'cgroup' if use_cg else 'no cgroup'})"] = (
                    lambda box=box: box.run(argv, workdir=wd, env=env)) if ok else None
        times: dict[str, list[float]] = {name: [] for name, f in cases.items() if f}
        for _ in range(runs):
            for name in times:
                t0 = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["bare python"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:24s} median {med * 1000:6.0f} ms   overhead {(med - base) * 1000:+5.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
