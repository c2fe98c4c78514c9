"""Search strategies the engine consults each iteration (issue #6, docs/features.md).

`Strategies` bundles, each switched by its own config section:

- the adaptive model bandit (``llm.adaptive``, `evoforge.adaptive`),
- meta-prompt evolution (``meta_prompt``, `evoforge.metaprompt`),
- novelty rejection (``novelty``, `evoforge.novelty`),
- crossover (``prompt.crossover_probability``): a second parent from the island,
- cost accounting (per-model prices; ``run.max_cost`` is enforced by the engine).

Nothing here is checkpointed: `restore` rebuilds every statistic from the stored
proposals and programs (`iter_outcomes`), so a resumed run continues with the
state the killed one had (up to the iterations still in flight).  With every
feature off, the engine behaves (and draws random numbers) exactly as before.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .adaptive import ModelBandit
from .database.selection import rank_weighted

if TYPE_CHECKING:  # annotations only: `evoforge status` need not import pydantic
    from .config import Config, ModelConfig

log = logging.getLogger("evoforge.strategies")

NOVELTY_NOTE = ("\n\nNote: an answer to this request was rejected because the program it produced was a "
                "near-duplicate of one already tried ({detail}). Propose a substantially different change.")


def call_cost(m: ModelConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """Money one call cost, from the model's price table (0 when no prices are configured)."""
    return (prompt_tokens * m.price_in_per_mtok + completion_tokens * m.price_out_per_mtok) / 1e6


def gain(child_valid: bool, child_score: float | None, parent_valid: bool, parent_score: float | None,
         maximize: bool) -> float | None:
    """Fitness gain of a child over its parent (positive = better), None when either has no score."""
    if not (child_valid and parent_valid) or child_score is None or parent_score is None:
        return None
    d = child_score - parent_score
    return d if maximize else -d


@dataclass
class Outcome:
    """One stored proposal, reduced to what the strategies learn from."""

    model: str | None
    cost: float
    tokens: int
    outcome: str
    instruction_id: int | None
    crossover: bool
    gain: float | None

    @property
    def improved(self) -> bool:
        return self.gain is not None and self.gain > 0


def iter_outcomes(con, maximize: bool, batch: int = 2000) -> Iterator[Outcome]:
    """Every proposal in id order with its child's gain over its parent (bounded memory)."""
    last = 0
    while True:
        rows = con.execute(
            "SELECT pr.id, pr.model, pr.prompt_tokens, pr.completion_tokens, pr.outcome, pr.extra, "
            "pr.second_parent_id, c.valid, c.score, p.valid, p.score FROM proposals pr "
            "LEFT JOIN programs c ON c.id = pr.program_id LEFT JOIN programs p ON p.id = pr.parent_id "
            "WHERE pr.id > ? ORDER BY pr.id LIMIT ?", (last, batch)).fetchall()
        if not rows:
            return
        for r in rows:
            extra = json.loads(r[5]) if r[5] else {}
            yield Outcome(model=r[1], cost=float(extra.get("cost") or 0.0), tokens=(r[2] or 0) + (r[3] or 0),
                          outcome=r[4] or "", instruction_id=extra.get("instruction_id"),
                          crossover=r[6] is not None,
                          gain=gain(bool(r[7]), r[8], bool(r[9]), r[10], maximize))
        last = rows[-1][0]


def check_config(config: Config) -> None:
    """Fail before the run starts when a configured feature cannot work (raises ValueError)."""
    if config.novelty.enabled and config.novelty.method == "embedding":
        from .embeddings import EmbeddingUnavailable, default_model_dir

        root = config.novelty.embedding_model
        try:
            path = default_model_dir() if root is None else Path(root)
        except EmbeddingUnavailable as err:
            raise ValueError(f"novelty.method is 'embedding' but {err}") from None
        if not (path / "model.safetensors").is_file() or not (path / "vocab.txt").is_file():
            raise ValueError(f"novelty.embedding_model {path} has no model.safetensors / vocab.txt")


@dataclass
class Plan:
    """What the strategies decided for one proposal."""

    instruction_id: int | None = None
    instruction: str | None = None
    second_parent_id: int | None = None

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.instruction_id is not None:
            out["instruction_id"] = self.instruction_id
        if self.second_parent_id is not None:
            out["crossover"] = True
        return out


class Strategies:
    def __init__(self, problem, config: Config, store, ensemble):
        self.problem, self.config, self.store, self.ensemble = problem, config, store, ensemble
        llm = config.llm
        self.bandit: ModelBandit | None = None
        if llm.adaptive:
            priors: dict[str, float] = {}
            for m in ensemble.members:
                priors[m.config.name] = priors.get(m.config.name, 0.0) + m.config.weight
            self.bandit = ModelBandit(priors, llm.adaptive_exploration, llm.adaptive_prior_calls)
        self.meta = None
        if config.meta_prompt.enabled:
            from .metaprompt import MetaPrompt

            self.meta = MetaPrompt(config.meta_prompt, store, description=problem.description,
                                   objective=problem.objective, direction=problem.direction)
        self.novelty = None
        if config.novelty.enabled:
            from .novelty import NoveltyFilter

            self.novelty = NoveltyFilter(config.novelty, problem.language)
        self.meta_tokens, self.spent_cost = 0, 0.0  # by earlier invocations of this run
        self._meta_lock = asyncio.Lock() if self.meta else None

    # -- resume --------------------------------------------------------------------------------
    def restore(self) -> None:
        if self.meta is not None:
            self.meta.restore()
        cost = 0.0
        for o in iter_outcomes(self.store.con, self.problem.maximize):
            cost += o.cost
            if o.model is None:  # the LLM never answered: nothing to learn
                continue
            if self.bandit is not None:
                self.bandit.observe(o.model, o.cost, o.gain)
            if self.meta is not None and o.instruction_id is not None:
                self.meta.observe(o.instruction_id, o.improved)
        from .metaprompt import usage

        self.meta_tokens = 0
        for u in usage(self.store.con).values():
            self.meta_tokens += u["prompt_tokens"] + u["completion_tokens"]
            cost += u["cost"]
        self.spent_cost = cost

    # -- per iteration ---------------------------------------------------------------------------
    def choose_model(self, rng: random.Random):
        if self.bandit is None:
            return self.ensemble.choose(rng)
        return self.bandit.choose(rng, self.ensemble.members)

    def plan(self, rng: random.Random, island, parent_id: int, inspiration_ids: list[int]) -> Plan:
        """Instruction and second parent (random draws only for the features that are on)."""
        plan = Plan()
        p = self.config.prompt.crossover_probability
        if p > 0 and rng.random() < p:
            others = [e for e in island.ranked() if e.id != parent_id]
            if others:
                plan.second_parent_id = rank_weighted(rng, others).id
        if self.meta is not None:
            v = self.meta.choose(rng)
            if v is not None:
                plan.instruction_id, plan.instruction = v.id, v.text or None
        return plan

    def cost_of(self, member, reply) -> float:
        return call_cost(member.config, reply.prompt_tokens, reply.completion_tokens)

    def observe(self, proposal, parent, child) -> None:
        """Learn from one committed proposal (`child` None when there was none)."""
        if proposal.model is None:  # the LLM never answered: nothing to learn
            return
        g = None if child is None else gain(child.valid, child.score, parent.valid, parent.score,
                                            self.problem.maximize)
        if self.bandit is not None and proposal.model is not None:
            self.bandit.observe(proposal.model, float(proposal.extra.get("cost") or 0.0), g)
        if self.meta is not None:
            self.meta.observe(proposal.extra.get("instruction_id"), g is not None and g > 0)

    # -- novelty -------------------------------------------------------------------------------
    @property
    def attempts(self) -> int:
        return self.config.novelty.max_attempts if self.novelty is not None else 1

    async def novelty_check(self, code: str, ids: Iterable[int], code_of: Callable[[int], str]):
        """A `Rejection` if `code` is a near-duplicate of one of `ids`, else None."""
        if self.novelty is None:
            return None
        ids = list(ids)
        if self.novelty.method == "code":
            return self.novelty.check(code, ids, code_of)
        codes = {pid: code_of(pid) for pid in ids}  # the store is read on the loop thread only
        from .embeddings import EmbeddingUnavailable

        try:
            return await asyncio.to_thread(self.novelty.check, code, ids, codes.__getitem__)
        except EmbeddingUnavailable as err:  # do not lose the run over it: the candidate counts as novel
            log.warning("novelty check skipped: %s", err)
            return None

    @staticmethod
    def resample_messages(messages: list[dict], rejection) -> list[dict]:
        out = [dict(m) for m in messages]
        out[-1]["content"] = out[-1]["content"] + NOVELTY_NOTE.format(detail=rejection.message())
        return out

    # -- meta-prompt -----------------------------------------------------------------------------
    async def maybe_new_instruction(self, iteration: int, llm_slots: asyncio.Semaphore) -> None:
        """Every `meta_prompt.propose_interval` iterations: ask the LLM for a new instruction variant."""
        if self.meta is None or not self.meta.due(iteration):
            return
        from .llm import LLMError

        rng = random.Random(f"evoforge-meta:{self.config.run.seed}:{iteration}")
        member = self.ensemble.choose(rng)
        messages = self.meta.proposal_messages()
        try:
            async with llm_slots:
                reply = await self.ensemble.complete(messages, rng, member=member)
        except LLMError as err:  # the next program proposal reports a dead endpoint; here: skip
            log.warning("meta-prompt request failed: %s", err)
            return
        async with self._meta_lock:
            self.meta.add_from_reply(reply, messages, iteration, self.cost_of(member, reply))


# -- status ----------------------------------------------------------------------------------------
def status_extras(store, summary: dict[str, Any]) -> dict[str, Any]:
    """What `evoforge status` adds for these features: cost and improvement share per model,
    meta-prompt and rubric-judge calls, the bandit's current probabilities, instruction variants,
    rejections.  The totals `cost` and `tokens` are the whole run's spend (what the budgets count)."""
    from .judge_cache import judge_prices_of, judge_summary
    from .metaprompt import load_variants, usage

    con = store.con
    config = store.meta_get("config") or {}
    maximize = (store.meta_get("objective") or {}).get("direction", "maximize") == "maximize"
    models = summary.setdefault("models", {})
    judge = judge_summary(con, judge_prices_of(config)) or {}
    extra_calls = [("meta_prompt_calls", n, u) for n, u in usage(con).items()]
    extra_calls += [("judge_calls", n, {**u, "calls": u["requests"]}) for n, u in judge.get("by_model", {}).items()]
    for key, name, u in extra_calls:  # meta-prompt and judge requests: part of each model's calls and cost
        m = models.setdefault(name, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
        m[key] = u["calls"]
        m["calls"] = m.get("calls", 0) + u["calls"]
        m["prompt_tokens"] = m.get("prompt_tokens", 0) + u["prompt_tokens"]
        m["completion_tokens"] = m.get("completion_tokens", 0) + u["completion_tokens"]
        m["cost"] = round(m.get("cost", 0.0) + u["cost"], 6)
    total_impr = sum(m.get("improvements", 0) for m in models.values())
    for m in models.values():
        m.setdefault("cost", 0.0)
        m.setdefault("improvements", 0)
        m["improvement_share"] = round(m["improvements"] / total_impr, 4) if total_impr else 0.0
    out: dict[str, Any] = {
        "cost": round(sum(m["cost"] for m in models.values()), 6),
        "tokens": sum(m.get("prompt_tokens", 0) + m.get("completion_tokens", 0) for m in models.values()),
    }
    llm = config.get("llm") or {}
    # The store's running counters (database/summary.py) answer the counts without reading every
    # proposal; the adaptive bandit needs each gain, and a database without counters has none.
    counts = None if llm.get("adaptive") else store.outcome_counts()
    outcomes = [] if counts is not None else (
        list(iter_outcomes(con, maximize)) if con.execute("SELECT 1 FROM proposals LIMIT 1").fetchone() else [])
    if counts is not None:
        out["novelty_rejected"], out["crossover"] = counts["novelty_rejected"], counts["crossover"]
    else:
        out["novelty_rejected"] = sum(o.outcome == "novelty_rejected" for o in outcomes)
        cross = [o for o in outcomes if o.crossover]
        out["crossover"] = {"proposals": len(cross), "improved": sum(o.improved for o in cross)}
    if llm.get("adaptive"):
        priors: dict[str, float] = {}
        for m in llm.get("models") or []:
            priors[m["name"]] = priors.get(m["name"], 0.0) + float(m.get("weight", 1.0))
        if priors:
            bandit = ModelBandit(priors, llm.get("adaptive_exploration", 0.2), llm.get("adaptive_prior_calls", 5.0))
            for o in outcomes:
                if o.model is not None:
                    bandit.observe(o.model, o.cost, o.gain)
            out["adaptive"] = bandit.probabilities()
    variants = load_variants(con)
    if variants:
        from .metaprompt import summary as meta_summary

        for o in outcomes:
            v = variants.get(o.instruction_id) if o.instruction_id is not None else None
            if v is not None and o.model is not None:
                v.successes += o.improved
                v.failures += not o.improved
        for iid, (uses, improved) in (counts or {}).get("instructions", {}).items():
            if iid in variants:
                variants[iid].successes += improved
                variants[iid].failures += uses - improved
        out["instructions"] = meta_summary(con, variants)
    return out


def status_lines(summary: dict[str, Any]) -> list[str]:
    """The text `evoforge status` prints for models, cost and these features."""
    lines = []
    probs = summary.get("adaptive") or {}
    for name, m in (summary.get("models") or {}).items():
        calls = m.get("calls", 0)
        meta = ", ".join(f"{m[k]} {what}" for k, what in (("meta_prompt_calls", "meta-prompt"),
                                                         ("judge_calls", "judge")) if m.get(k))
        meta = f" ({meta})" if meta else ""
        share = f"{100 * m.get('improvement_share', 0.0):.0f}%"
        line = (f"model     {name}: {calls} calls{meta}, {m.get('prompt_tokens', 0)} prompt + "
                f"{m.get('completion_tokens', 0)} completion tokens, cost {_money(m.get('cost', 0.0))}, "
                f"{m.get('improvements', 0)} improvements ({share} of all)")
        if name in probs:
            line += f", adaptive p={probs[name]:.2f}"
        lines.append(line)
    if "cost" in summary:
        j = summary.get("judge") or {}
        judge = (f" (rubric judge: {_money(j.get('cost', 0.0))} for {j.get('tokens', 0)} tokens)"
                 if j.get("requests") else "")
        lines.append(f"cost      {_money(summary['cost'])} for {summary.get('tokens', 0)} tokens{judge}")
    if summary.get("novelty_rejected"):
        lines.append(f"novelty   {summary['novelty_rejected']} near-duplicates rejected before evaluation")
    cross = summary.get("crossover") or {}
    if cross.get("proposals"):
        lines.append(f"crossover {cross['proposals']} proposals, {cross['improved']} improved on the first parent")
    instr = [v for v in summary.get("instructions") or [] if v["active"]]
    if instr:
        best = max(instr, key=lambda v: ((v["improved"] + 1) / (v["uses"] + 2), -v["id"]))
        text = best["text"] or "(no extra guidance)"
        lines.append(f"prompts   {len(instr)} active instruction variants; best so far #{best['id']} "
                     f"({best['improved']}/{best['uses']} improved): {text[:80]}")
    return lines


def _money(value: float) -> str:
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"
