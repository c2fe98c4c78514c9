"""Helpers shared by the benchmarks (bench/throughput.py, bench/peers.py).

/proc sampling of a process tree (CPU of the root, of the whole tree, summed PSS),
copies of bench/problems/tunable with the evaluation cost baked in, and the
environment for evoforge subprocesses.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBLEM = REPO / "bench" / "problems" / "tunable"
CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")


# -- /proc sampling ----------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own utime+stime, utime+stime of its reaped children) in s of a live process, None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, (int(rest[13]) + int(rest[14])) / TICK


def _tree(root: int) -> dict[int, tuple[float, float]]:
    """Every live process in root's tree -> (own CPU s, reaped children's CPU s)."""
    procs: dict[int, tuple[int, float, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                procs[int(name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            out[pid] = procs[pid][1:]
            todo.extend(children.get(pid, ()))
    return out


def _pss_kb(pid: int) -> int | None:
    """PSS in kB; None if the process is gone (or its smaps_rollup is unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except PermissionError:
        return -1
    except (OSError, ValueError):
        pass
    return None


class Sampler(threading.Thread):
    """Samples a process tree every `period` s: controller CPU, tree CPU, summed PSS."""

    def __init__(self, root: int, period: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.period = root, period
        # (time.time(), controller CPU s, CPU s of the tree: controller + reaped + live descendants)
        self.samples: list[tuple[float, float, float]] = []
        self.peak_pss_kb = 0
        self.pss_denied = self.pss_gone = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.time()
            tree = _tree(self.root)
            if self.root not in tree:
                break
            own, reaped = tree[self.root]
            live = sum(c for pid, (c, _) in tree.items() if pid != self.root)  # their own reaped children
            live += sum(r for pid, (_, r) in tree.items() if pid != self.root)  # (bwrap's) are counted too
            self.samples.append((now, own, own + reaped + live))
            total = 0
            for pid in tree:
                kb = _pss_kb(pid)
                if kb is None:
                    self.pss_gone += 1
                elif kb < 0:
                    self.pss_denied += 1
                else:
                    total += kb
            self.peak_pss_kb = max(self.peak_pss_kb, total)
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def cpu_at(self, t: float, col: int = 1) -> float:
        """Controller (col 1) or tree (col 2) CPU at time t (linear interpolation between samples)."""
        s = [(x[0], x[col]) for x in self.samples]
        if not s:
            return 0.0
        if t <= s[0][0]:
            return s[0][1]
        for (t0, c0), (t1, c1) in zip(s, s[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / max(t1 - t0, 1e-9)
        return s[-1][1]


# -- problem copies and runs ---------------------------------------------------------------
def problem_copy(base: Path, eval_ms: float) -> Path:
    dest = base / f"tunable-{eval_ms:g}ms"
    if not dest.exists():
        shutil.copytree(PROBLEM, dest, ignore=shutil.ignore_patterns("__pycache__"))
        ev = dest / "evaluator.py"
        ev.write_text(re.sub(r"^EVAL_MS = .*$", f"EVAL_MS = {eval_ms!r}", ev.read_text(), count=1, flags=re.M))
    return dest


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


