"""Adaptive model choice: a bandit over the ensemble, rewarded by improvement per unit of cost.

Every proposal is one pull of its model.  Its reward is how much the child
improved on its parent (fitness difference, oriented so that higher is better;
zero for a child that is not better, failed or was never evaluated), divided by
the median improvement seen so far (so rewards are unit-free) and capped at 5
(one lucky jump does not decide the run).  A model's value is its mean reward
per call, shrunk toward the ensemble's mean by ``adaptive_prior_calls``
pseudo-calls, divided by its relative cost per call (money when prices are
configured, else one per call).  Models are then drawn by probability matching:

    p(m) = (1 - eps) * w(m) v(m) / sum(w v)  +  eps * w(m) / sum(w)

with the prior weights ``w`` and ``eps = adaptive_exploration``.  The state is
only counts and sums over the stored proposals, so on resume it is rebuilt from
the database (`evoforge.strategies.iter_outcomes`) and never checkpointed.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from typing import Sequence

REWARD_CAP = 5.0


@dataclass
class Arm:
    prior: float
    calls: int = 0
    cost: float = 0.0
    improvements: list[float] = field(default_factory=list)  # positive fitness gains only


class ModelBandit:
    def __init__(self, priors: dict[str, float], exploration: float = 0.2, prior_calls: float = 5.0):
        if not priors:
            raise ValueError("the bandit needs at least one model")
        self.arms = {name: Arm(prior=w) for name, w in priors.items()}
        self.exploration, self.prior_calls = exploration, prior_calls

    def observe(self, model: str | None, cost: float, gain: float | None) -> None:
        """One finished proposal of `model`: its cost and its child's fitness gain over the parent (None: no child)."""
        arm = self.arms.get(model or "")
        if arm is None:  # a model no longer in the ensemble (resume with other models): ignore
            return
        arm.calls += 1
        arm.cost += max(cost, 0.0)
        if gain is not None and gain > 0:
            arm.improvements.append(gain)

    def _scale(self) -> float:
        gains = [g for a in self.arms.values() for g in a.improvements]
        return statistics.median(gains) if gains else 1.0

    def values(self) -> dict[str, float]:
        """Each model's estimated reward per unit of relative cost."""
        scale = self._scale() or 1.0
        reward = {n: sum(min(g / scale, REWARD_CAP) for g in a.improvements) for n, a in self.arms.items()}
        calls = sum(a.calls for a in self.arms.values())
        total_cost = sum(a.cost for a in self.arms.values())
        mean_r = sum(reward.values()) / calls if calls else 0.0
        priced = total_cost > 0
        mean_c = total_cost / calls if calls and priced else 1.0
        k = self.prior_calls
        out = {}
        for name, a in self.arms.items():
            v = (reward[name] + k * mean_r) / (a.calls + k) if a.calls + k > 0 else 0.0
            c = ((a.cost if priced else a.calls) + k * mean_c) / (a.calls + k) if a.calls + k > 0 else mean_c
            out[name] = v / (c / mean_c) if c > 0 else v
        return out

    def probabilities(self) -> dict[str, float]:
        w_sum = sum(a.prior for a in self.arms.values())
        prior = {n: a.prior / w_sum for n, a in self.arms.items()}
        vals = self.values()
        wv = {n: self.arms[n].prior * vals[n] for n in self.arms}
        total = sum(wv.values())
        if total <= 0:
            return prior
        eps = self.exploration
        return {n: (1 - eps) * wv[n] / total + eps * prior[n] for n in self.arms}

    def choose(self, rng: random.Random, members: Sequence):
        """Draw one ensemble member (members with the same model name share its probability)."""
        probs = self.probabilities()
        counts: dict[str, int] = {}
        for m in members:
            counts[m.config.name] = counts.get(m.config.name, 0) + 1
        weights = [probs.get(m.config.name, 0.0) / counts[m.config.name] for m in members]
        if sum(weights) <= 0:
            weights = [m.config.weight for m in members]
        return rng.choices(list(members), weights=weights, k=1)[0]

    def stats(self) -> dict[str, dict]:
        probs = self.probabilities()
        return {n: {"calls": a.calls, "improvements": len(a.improvements), "cost": round(a.cost, 6),
                    "probability": round(probs[n], 4)} for n, a in self.arms.items()}
