"""The light view of a program that the search state keeps in memory (no code)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    id: int
    island: int
    iteration: int
    score: float
    fitness: float  # score oriented so that higher is better
    metrics: dict = field(default_factory=dict, hash=False, compare=False)
    complexity: int = 0  # characters of code
    code_hash: str = ""

    def feature(self, name: str) -> float | None:
        if name == "complexity":
            return float(self.complexity)
        if name == "score":
            return self.score
        v = self.metrics.get(name)
        return float(v) if isinstance(v, (int, float)) else None
