"""The evolve loop.

One iteration: choose an island and a parent with inspirations (database), build
the prompt (prompt), ask a model (llm), apply its edit (edit), score the child in
the sandbox (evaluate) and commit everything in one transaction (database).
Up to ``llm.max_in_flight`` requests and ``evaluation.max_in_flight`` evaluations
run at once, independently: a worker holds the LLM slot only while waiting for
the model and an evaluation slot only while the child process runs.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from .blocks import find_blocks
from .config import Config
from .database import ProgramDatabase, features_of
from .database.store import ProgramRecord, ProposalRecord, Store
from .edit import apply_reply
from .evaluate import Evaluator
from .executor import ExecutorUnavailable, LocalExecutor
from .judge import Judge
from .llm import EndpointUnavailable, Ensemble, LLMError
from .problem import Problem
from .prompt import Shown, build_messages, feedback_of
from .records import EvalResult
from .rundir import RunDir
from .strategies import Strategies

log = logging.getLogger("evoforge.engine")


def iteration_rng(seed: int, iteration: int) -> random.Random:
    """Each iteration's decisions come from its own stream, so resume continues
    exactly where the killed run would have gone and no RNG state is stored."""
    digest = hashlib.sha256(f"evoforge:{seed}:{iteration}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Progress:
    """What the progress display and the final summary show."""

    done: int = 0
    evaluated: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    best_score: float | None = None
    best_id: int | None = None
    started: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None
    fatal: str | None = None
    tokens: int = 0  # LLM tokens used by the whole run so far (rubric judge included)
    cost: float = 0.0  # and their price (per-model prices in the config)
    judge_tokens: int = 0  # the rubric judge's share of both
    judge_cost: float = 0.0

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1


class Engine:
    def __init__(self, problem: Problem, config: Config, store: Store, evaluator: Evaluator | None,
                 ensemble: Ensemble, run_dir: RunDir, on_progress: Callable[[Progress], None] | None = None,
                 executor=None):
        self.problem, self.config, self.store = problem, config, store
        self.evaluator, self.ensemble, self.run_dir = evaluator, ensemble, run_dir
        # where evaluations run (executor.py): by default a thread pool calling `evaluator`
        self.executor = executor or LocalExecutor(evaluator, config.evaluation.max_in_flight)
        self.on_progress = on_progress or (lambda p: None)
        self.db = ProgramDatabase(config.search, problem.maximize)
        self.progress = Progress()
        self.n_blocks = len(find_blocks(problem.initial_code))
        self._stop = asyncio.Event()
        self._cache: dict[int, ProgramRecord] = {}
        self._tokens_before = 0
        self._cost_before = 0.0
        # adaptive ensemble, meta-prompt, novelty, crossover, cost (strategies.py); all off by default
        self.strategies = Strategies(problem, config, store, ensemble)
        self.judge = Judge.for_run(problem, config, ensemble, store)  # None without a rubric (judge.py)
        self._unjudged_initial: EvalResult | None = None

    # -- setup -----------------------------------------------------------------
    def seed_initial(self, result: EvalResult, judged: bool = False) -> None:
        """Store the initial program (once per run) as generation 0 on every island."""
        if self.store.max_program_id() is not None:
            return
        if self.judge is not None and not judged:  # graded in run() first: the judge needs the event loop
            self._unjudged_initial = result
            return
        for island in range(self.config.search.num_islands):
            prog = self._record(self.problem.initial_code, result, island=island, iteration=0,
                                parent=None, model=None)
            self.store.add_program(prog)

    def restore(self) -> None:
        self.db.rebuild(self.store)
        summary = self.store.summary()
        self._tokens_before = sum(m.get("prompt_tokens", 0) + m.get("completion_tokens", 0)
                                  for m in summary.get("models", {}).values())
        self.strategies.restore()  # rebuilds bandit and instruction statistics from the store
        self._tokens_before += self.strategies.meta_tokens
        self._cost_before = self.strategies.spent_cost
        best = self.store.best_program(self.problem.maximize)
        if best is not None:
            self.progress.best_score, self.progress.best_id = best.score, best.id
            if not any(self.run_dir.best_dir.glob("best_program*")):
                self._write_best(best)

    def _write_best(self, prog: ProgramRecord) -> None:
        self.run_dir.write_best(prog.code, self.problem.initial_program.suffix, {
            "id": prog.id, "iteration": prog.iteration, "objective": self.problem.objective,
            "score": prog.score, "metrics": prog.metrics, "model": prog.model})

    def request_stop(self, reason: str) -> None:
        if self.progress.stop_reason is None:
            self.progress.stop_reason = reason
        self._stop.set()

    # -- the loop --------------------------------------------------------------
    async def run(self, iterations: int) -> Progress:
        if self.judge is not None and self.store.max_program_id() is None and not await self._seed_judged():
            self._update_spend()
            return self.progress
        self.restore()
        self._next = self.store.max_iteration() + 1
        self._remaining = iterations
        self._llm_slots = asyncio.Semaphore(self.config.llm.max_in_flight)
        width = self.executor.width
        workers = [asyncio.create_task(self._worker()) for _ in range(self.config.llm.max_in_flight + width)]
        stopper = asyncio.create_task(self._stop.wait())
        all_done = asyncio.gather(*workers)
        try:
            await asyncio.wait([stopper, all_done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in workers:
                task.cancel()
            stopper.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            err = all_done.exception() if all_done.done() and not all_done.cancelled() else None
            if err is not None and not isinstance(err, asyncio.CancelledError):  # a bug, not a stop
                log.error("iteration worker failed: %r", err)
                self.progress.fatal = f"internal error: {err!r}"
            self.executor.close()  # kill evaluations still running: their iterations were not committed
        if self.progress.stop_reason is None:
            self.progress.stop_reason = "iterations done"
        self._update_spend()
        return self.progress

    def _claim(self) -> int | None:
        run = self.config.run
        if self._stop.is_set() or self._remaining <= 0:
            return None
        if run.max_wall_s and time.monotonic() - self.progress.started > run.max_wall_s:
            self.request_stop("wall-clock limit reached")
            return None
        if run.max_total_tokens and self._tokens_used() >= run.max_total_tokens:
            self.request_stop("token budget reached")
            return None
        if self._over_cost():
            return None
        self._remaining -= 1
        self._next += 1
        return self._next - 1

    async def _worker(self) -> None:
        while (i := self._claim()) is not None:
            await self._iteration(i)
            self.progress.done += 1
            self._update_spend()
            self.on_progress(self.progress)

    def _update_spend(self) -> None:
        self.progress.tokens, self.progress.cost = self._tokens_used(), self._cost_used()
        if self.judge is not None:
            self.progress.judge_tokens, self.progress.judge_cost = self.judge.tokens_used(), self.judge.cost_used()

    async def _iteration(self, i: int) -> None:
        rng = iteration_rng(self.config.run.seed, i)
        self.db.maybe_migrate(i)
        island = self.db.next_island(i)
        sel = self.db.sample(rng, island)
        parent = self._program(sel.parent_id)
        member = self.strategies.choose_model(rng)  # first: the edit mode may depend on the model
        p_diff = member.config.diff_probability
        p_diff = self.config.prompt.diff_probability if p_diff is None else p_diff
        mode = "diff" if rng.random() < p_diff else "rewrite"
        if not self._over_cost():
            await self.strategies.maybe_new_instruction(i, self._llm_slots)  # meta-prompt evolution, when due
        plan = self.strategies.plan(rng, self.db.islands[island], parent.id, sel.inspiration_ids)
        second = None if plan.second_parent_id is None else self._program(plan.second_parent_id)
        messages = build_messages(
            description=self.problem.description, objective=self.problem.objective,
            direction=self.problem.direction, language=self.problem.language,
            parent=self._shown(parent), inspirations=[self._shown(self._program(p)) for p in sel.inspiration_ids
                                                      if p != plan.second_parent_id],
            mode=mode, n_blocks=self.n_blocks, config=self.config.prompt, instruction=plan.instruction,
            second_parent=None if second is None else self._shown(second),
            objectives=[(o.metric, o.direction == "maximize") for o in self.config.search.objectives],
            packages=self.problem.packages)
        for attempt in range(self.strategies.attempts):  # > 1 only with novelty rejection: resample duplicates
            proposal = ProposalRecord(id=None, iteration=i, island=island, parent_id=parent.id,
                                      second_parent_id=plan.second_parent_id, model=None, edit_mode=mode,
                                      messages=messages, reply=None, prompt_tokens=0, completion_tokens=0,
                                      latency_s=0.0, outcome="llm_failed", error=None, program_id=None,
                                      created_at=time.time(), extra=plan.extra())
            try:
                async with self._llm_slots:
                    if self._over_cost():  # claimed before the cap was reached: do not pay for it
                        return
                    reply = await self.ensemble.complete(messages, rng, member=member)
            except EndpointUnavailable as err:
                self.progress.fatal = str(err)
                self.request_stop("LLM endpoint unavailable")
                return self._commit_failure(proposal, "llm_unavailable", str(err))
            except LLMError as err:
                return self._commit_failure(proposal, "llm_error", str(err))
            proposal.model, proposal.reply = reply.model, reply.text
            proposal.prompt_tokens, proposal.completion_tokens = reply.prompt_tokens, reply.completion_tokens
            proposal.latency_s = reply.latency_s
            proposal.extra["cost"] = self.strategies.cost_of(member, reply)
            edit = apply_reply(parent.code, reply.text, mode)
            if edit.code is None:
                proposal.outcome = "edit_failed"
                return self._commit_failure(proposal, edit.error or "no_edit", edit.detail)
            rejection = await self.strategies.novelty_check(
                edit.code, [parent.id, *self.db.islands[island].members], lambda pid: self._program(pid).code)
            if rejection is None:
                break
            proposal.outcome = "novelty_rejected"
            self._commit_failure(proposal, "novelty_rejected", rejection.message())
            if attempt + 1 >= self.strategies.attempts or (i := self._claim()) is None:
                return  # each resample is one more proposal of this invocation's budget
            self.progress.done += 1
            messages = self.strategies.resample_messages(messages, rejection)
        try:
            result = await self.executor.evaluate(edit.code)
        except ExecutorUnavailable as err:  # not the candidate's fault: stop, resumable
            self.progress.fatal = str(err)
            self.request_stop("evaluations unavailable")
            proposal.outcome = "eval_failed"
            return self._commit_failure(proposal, "eval_unavailable", str(err))
        if self.judge is not None and result.valid:  # the rubric judge: in the controller, after the sandbox
            try:
                result = await self.judge.apply(edit.code, result)
            except EndpointUnavailable as err:
                self.progress.fatal = str(err)
                self.request_stop("judge endpoint unavailable")
                proposal.outcome = "eval_failed"
                return self._commit_failure(proposal, "judge_unavailable", str(err))
        child = self._record(edit.code, result, island=island, iteration=i, parent=parent, model=reply.model)
        child.second_parent_id = plan.second_parent_id
        child.extra.update(plan.extra())
        proposal.outcome = "evaluated"
        _, child.id = self.store.record_iteration(proposal, child)
        self.db.add(child)
        self.strategies.observe(proposal, parent, child)
        self.progress.evaluated += 1
        if not result.valid:
            self.progress.fail(result.failure_kind or "invalid")
        self._maybe_new_best(child)

    async def _seed_judged(self) -> bool:
        """Grade the initial program with the rubric judge and store it; False (run stops) if it fails."""
        # (None on a resume after the judge failed at the start: evaluate it again)
        result = self._unjudged_initial or await self.executor.evaluate(self.problem.initial_code)
        try:
            result = await self.judge.apply(self.problem.initial_code, result)
        except EndpointUnavailable as err:
            result.valid, result.error = False, str(err)
        if not result.valid:
            self.progress.fatal = f"the rubric judge could not grade the initial program: {result.error}"
            self.request_stop("judge failed on the initial program")
            return False
        self._unjudged_initial = None
        self.seed_initial(result, judged=True)
        return True

    # -- helpers -----------------------------------------------------------------
    def _commit_failure(self, proposal: ProposalRecord, kind: str, detail: str) -> None:
        proposal.error = f"{kind}: {detail}" if detail else kind
        self.store.record_iteration(proposal, None)
        self.progress.fail(kind)
        if proposal.parent_id is not None:
            self.strategies.observe(proposal, self._program(proposal.parent_id), None)

    def _record(self, code: str, result: EvalResult, *, island: int, iteration: int,
                parent: ProgramRecord | None, model: str | None) -> ProgramRecord:
        score = result.metrics.get(self.problem.objective) if result.valid else None
        return ProgramRecord(
            id=None, parent_id=parent.id if parent else None, second_parent_id=None, island=island,
            generation=parent.generation + 1 if parent else 0, iteration=iteration, code=code,
            language=self.problem.language, valid=result.valid and score is not None,
            score=score, metrics=result.metrics, error=result.error, failure_kind=result.failure_kind,
            stdout=result.stdout, stderr=result.stderr, artifacts=result.artifacts, eval_time_s=result.duration_s,
            flags=list(result.flags), features=features_of(code), model=model, created_at=time.time(), extra={})

    def _program(self, pid: int) -> ProgramRecord:
        prog = self._cache.get(pid)
        if prog is None:
            prog = self.store.get_program(pid)
            if len(self._cache) > 4096:  # bounded: selection revisits a small elite set
                self._cache.clear()
            self._cache[pid] = prog
        return prog

    def _shown(self, prog: ProgramRecord) -> Shown:
        fb = feedback_of(prog.stdout, prog.stderr, prog.error, prog.artifacts, self.config.prompt.max_feedback_chars)
        return Shown(code=prog.code, score=prog.score, metrics=prog.metrics, feedback=fb, valid=prog.valid)

    def _tokens_used(self) -> int:
        """Tokens of the whole run: proposals and meta-prompt requests (earlier sessions from the store,
        this one from the ensemble) and the rubric judge (its table holds every session's)."""
        judge = self.judge.tokens_used() if self.judge else 0
        return self._tokens_before + judge + sum(u["prompt_tokens"] + u["completion_tokens"]
                                                 for u in self.ensemble.usage().values())

    def _cost_used(self) -> float:
        """Money spent by the whole run, counted the same way (the judge's calls included)."""
        judge = self.judge.cost_used() if self.judge else 0.0
        return self._cost_before + judge + sum(u["cost"] for u in self.ensemble.usage().values())

    def _over_cost(self) -> bool:
        """`run.max_cost` reached: no new proposals; the ones in flight finish and are committed."""
        cap = self.config.run.max_cost
        if not cap or self._cost_used() < cap:
            return False
        if self.progress.stop_reason is None:
            self.progress.stop_reason = "cost budget reached"
        self._remaining = 0
        return True

    def _maybe_new_best(self, prog: ProgramRecord) -> None:
        if not prog.valid or prog.score is None:
            return
        best = self.progress.best_score
        if best is not None and self.problem.fitness(prog.score) <= self.problem.fitness(best):
            return
        self.progress.best_score, self.progress.best_id = prog.score, prog.id
        self._write_best(prog)
        log.info("new best %s = %.10g (program %s, iteration %s)", self.problem.objective, prog.score, prog.id, prog.iteration)
        target = self.config.run.target_score
        if target is not None and self.problem.fitness(prog.score) >= self.problem.fitness(target):
            self.request_stop("target score reached")
