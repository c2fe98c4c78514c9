"""Progress display for `evoforge run`: a bar on a terminal, log lines otherwise."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .engine import Progress as RunProgress


def _best(p: RunProgress) -> str:
    return "n/a" if p.best_score is None else f"{p.best_score:.6g}"


def _failures(p: RunProgress) -> int:
    return sum(p.failures.values())


def _count(tokens: int) -> str:
    return f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)


def _spent(p: RunProgress) -> str:
    text = f"{_count(getattr(p, 'tokens', 0))} tokens"
    cost = getattr(p, "cost", 0.0)
    text += f" ${cost:.4f}" if cost else ""
    judge = getattr(p, "judge_tokens", 0)
    if judge:  # included in the totals above
        jcost = getattr(p, "judge_cost", 0.0)
        text += f" (judge {_count(judge)}" + (f" ${jcost:.4f})" if jcost else ")")
    return text


class ProgressDisplay:
    """Context manager; call it with the engine's progress after each iteration."""

    def __init__(self, total: int, enabled: bool = True):
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._bar: Progress | None = None

    def __enter__(self) -> "ProgressDisplay":
        if self.enabled and self.tty:
            self._bar = Progress(
                TextColumn("[bold]evolving"), BarColumn(), MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[rate]} it/s"),
                TextColumn("failures {task.fields[fail]}"), TextColumn("{task.fields[spent]}"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("run", total=self.total, best="n/a", rate="0.0", fail=0, spent="")
        return self

    def __call__(self, p: RunProgress) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - p.started, 1e-9)
        rate = f"{p.done / elapsed:.2f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=p.done, best=_best(p), rate=rate, fail=_failures(p),
                             spent=_spent(p))
        elif time.monotonic() - self._last > 5 or p.done == self.total:
            self._last = time.monotonic()
            print(f"[evoforge] {p.done}/{self.total} iterations, best {_best(p)}, {rate} it/s, "
                  f"{_failures(p)} failures, {_spent(p)}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
