"""Where evaluations run: the seam between the engine and the evaluator.

Both executors offer ``width`` (evaluations kept in flight), ``isolation`` (the
sandbox mode that runs them), ``check()`` (evaluate the initial program; raises
ProblemError), ``async evaluate(code) -> EvalResult`` and ``close()``.

* `LocalExecutor` - a thread pool on this machine calling one `Evaluator`.
* `RayExecutor` - every evaluation is a Ray task.  The task builds an `Evaluator`
  on the worker (cached per worker process) and calls ``evaluate(code)`` there, so
  the candidate runs in the same sandbox as locally.  The controller keeps the
  database and the LLM calls; only code goes out and an `EvalResult` comes back.
  A task lost with its worker or node is re-run elsewhere (Ray's ``max_retries``,
  then our own resubmission); a candidate's failure is a normal result, never
  retried.  Ray is imported only here, and only when this executor is built.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .evaluate import Evaluator
from .problem import Problem, ProblemError, load_problem
from .records import EvalResult, Limits

log = logging.getLogger("evoforge.executor")


class ExecutorUnavailable(RuntimeError):
    """Evaluations cannot run any more (cluster gone, workers cannot load the problem)."""


class LocalExecutor:
    kind = "local"

    def __init__(self, evaluator: Evaluator, width: int):
        self.evaluator, self.width = evaluator, width
        self._pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="evaluate")
        self.description = "local"

    @property
    def isolation(self) -> str:
        return self.evaluator.isolation

    def check(self) -> EvalResult:
        return self.evaluator.check()

    async def evaluate(self, code: str) -> EvalResult:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.evaluator.evaluate, code)

    def close(self) -> None:
        self.evaluator.close()  # kill evaluations still running: their iterations were not committed
        self._pool.shutdown(wait=False, cancel_futures=True)


# -- the worker side (runs inside Ray worker processes) ---------------------------------
@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build the evaluator; hashable, so it keys the cache."""

    problem_path: str | None  # None: the problem was shipped as the task's working directory
    limits: Limits
    isolation: str
    cascade: bool


_EVALUATORS: dict[WorkerSpec, Evaluator] = {}


def _worker_evaluator(spec: WorkerSpec) -> Evaluator:
    ev = _EVALUATORS.get(spec)
    if ev is None:
        problem = load_problem(spec.problem_path or Path.cwd())
        ev = Evaluator(problem, limits=spec.limits, isolation=spec.isolation, cascade=spec.cascade)
        if len(_EVALUATORS) >= 8:
            _EVALUATORS.clear()
        _EVALUATORS[spec] = ev
    return ev


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def remote_evaluate(spec: WorkerSpec, code: str) -> tuple[str, EvalResult | None, str | None]:
    """(node id, result, error): error says why this worker cannot evaluate at all."""
    try:
        ev = _worker_evaluator(spec)
    except Exception as err:  # noqa: BLE001 - reported to the controller, which stops the run
        return _node_id(), None, f"{type(err).__name__}: {err}"
    return _node_id(), ev.evaluate(code), None


def remote_check(spec: WorkerSpec) -> tuple[str, EvalResult | None, str | None, str]:
    """(node id, result, problem error, isolation) for the initial program."""
    try:
        ev = _worker_evaluator(spec)
        return _node_id(), ev.check(), None, ev.isolation
    except ProblemError as err:
        return _node_id(), None, str(err), ""
    except Exception as err:  # noqa: BLE001
        return _node_id(), None, f"the Ray worker cannot evaluate this problem: {type(err).__name__}: {err}", ""


# -- the controller side ----------------------------------------------------------------
class RayExecutor:
    kind = "ray"
    RESUBMIT_BACKOFF_S = (1.0, 2.0, 5.0, 10.0)

    def __init__(self, problem: Problem, limits: Limits, ev: Any, width: int | None = None):
        """`ev` is the EvaluationConfig; `width` None means: as many as the cluster holds."""
        try:
            import ray
        except ImportError:
            raise ProblemError("the ray executor needs Ray: pip install 'evoforge[ray]'") from None
        self._ray = ray
        runtime_env = dict(ev.ray_runtime_env)
        if ev.ray_ship_problem:
            runtime_env["working_dir"] = str(problem.root)
        try:
            ray.init(address=ev.ray_address, runtime_env=runtime_env or None, log_to_driver=False,
                     logging_level=logging.WARNING, ignore_reinit_error=True)
        except Exception as err:  # noqa: BLE001 - ConnectionError, RuntimeError, ... from ray.init
            raise ProblemError(f"cannot start the ray executor (cluster {ev.ray_address or 'default'}): {err}") from None
        self.spec = WorkerSpec(None if ev.ray_ship_problem else str(problem.root), limits, ev.isolation, ev.cascade)
        opts: dict[str, Any] = {"num_cpus": ev.num_cpus, "num_gpus": ev.num_gpus, "max_retries": ev.ray_max_retries,
                                "retry_exceptions": False}
        if ev.memory_request_mb:
            opts["memory"] = ev.memory_request_mb * 1024 * 1024
        self._evaluate_task = ray.remote(remote_evaluate).options(**opts)
        self._check_task = ray.remote(remote_check).options(**opts)
        self._probe_task = ray.remote(_probe).options(**opts)
        self.retries = ev.ray_max_retries
        self.width = width or self._cluster_width(ev)
        self.nodes: Counter[str] = Counter()
        self._isolation: str | None = None
        self._in_flight: set = set()
        self._closed = False
        per_eval = {k: v for k, v in opts.items() if k in ("num_cpus", "num_gpus", "memory")}
        self.description = f"ray cluster {ev.ray_address or '(default)'}, per evaluation {per_eval}"

    def _cluster_width(self, ev: Any) -> int:
        res = self._ray.cluster_resources()
        caps = [res.get("CPU", 0.0) / ev.num_cpus]
        if ev.num_gpus:
            caps.append(res.get("GPU", 0.0) / ev.num_gpus)
        if ev.memory_request_mb:
            caps.append(res.get("memory", 0.0) / (ev.memory_request_mb * 1024 * 1024))
        if min(caps) < 1:  # a static cluster would wait forever: say so
            print(f"evoforge: warning: the Ray cluster ({res}) cannot run one evaluation needing "
                  f"{ev.num_cpus} CPU, {ev.num_gpus} GPU right now; evaluations wait until such a node joins",
                  file=sys.stderr)
        return max(1, int(min(caps) + 1e-9))

    def _get(self, task) -> tuple:
        """Run a setup task (check, probe) and wait for it; Ray failures become ProblemError."""
        try:
            return self._ray.get(task.remote(self.spec))
        except self._ray.exceptions.RayError as err:
            raise ProblemError(f"the Ray cluster could not run the evaluation task: {err}") from None

    @property
    def isolation(self) -> str:
        if self._isolation is None:  # a resumed run: ask a worker (this also checks it can load the problem)
            node, _, error, isolation = self._get(self._probe_task)
            if error:
                raise ProblemError(f"the Ray worker on node {node} cannot evaluate this problem: {error}")
            self._pin(isolation)
        return self._isolation

    def _pin(self, isolation: str) -> None:
        """`auto` resolves on the first worker; every other worker must then offer the same mode
        (a weaker sandbox on some node stops the run instead of being used silently)."""
        self._isolation = isolation
        if self.spec.isolation == "auto":
            self.spec = replace(self.spec, isolation=isolation)

    def check(self) -> EvalResult:
        node, result, error, isolation = self._get(self._check_task)
        if error:
            raise ProblemError(error)
        self._pin(isolation)
        self.nodes[node] += 1
        return result

    async def evaluate(self, code: str) -> EvalResult:
        ray = self._ray
        for attempt in range(self.retries + 1):
            if self._closed:
                raise ExecutorUnavailable("the ray executor was closed")
            ref = self._evaluate_task.remote(self.spec, code)
            self._in_flight.add(ref)
            try:
                node, result, error = await asyncio.wrap_future(ref.future())
            except asyncio.CancelledError:
                _quiet(ray.cancel, ref)
                raise
            except ray.exceptions.RuntimeEnvSetupError as err:
                raise ExecutorUnavailable(f"Ray could not set up the evaluation environment: {err}") from None
            except ray.exceptions.RayTaskError as err:  # the task function itself raised: not the candidate
                raise ExecutorUnavailable(f"the evaluation task failed on the Ray worker: {err}") from None
            except ray.exceptions.RayError as err:  # worker or node lost after Ray's own retries
                delay = self.RESUBMIT_BACKOFF_S[min(attempt, len(self.RESUBMIT_BACKOFF_S) - 1)]
                log.warning("evaluation lost on the cluster (%s: %s); resubmitting in %.0f s",
                            type(err).__name__, str(err).splitlines()[0] if str(err) else "", delay)
                await asyncio.sleep(delay)
                continue
            finally:
                self._in_flight.discard(ref)
            if error:
                raise ExecutorUnavailable(f"the Ray worker on node {node} cannot evaluate this problem: {error}")
            self.nodes[node] += 1
            return result
        raise ExecutorUnavailable(f"an evaluation was lost on the Ray cluster {self.retries + 1} times")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ref in list(self._in_flight):
            _quiet(self._ray.cancel, ref)
        log.info("ray evaluations by node: %s", json.dumps(dict(self.nodes), sort_keys=True))
        _quiet(self._ray.shutdown)


def _probe(spec: WorkerSpec) -> tuple[str, None, str | None, str]:
    try:
        return _node_id(), None, None, _worker_evaluator(spec).isolation
    except Exception as err:  # noqa: BLE001
        return _node_id(), None, f"{type(err).__name__}: {err}", ""


def _quiet(fn, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - best effort while shutting down
        pass


def build_executor(problem: Problem, config: Any, limits: Limits) -> LocalExecutor | RayExecutor:
    """The executor `config.evaluation.executor` names; raises ProblemError when it cannot start."""
    ev = config.evaluation
    if ev.executor == "ray":
        width = ev.max_in_flight if "max_in_flight" in ev.model_fields_set else None
        return RayExecutor(problem, limits, ev, width=width)
    evaluator = Evaluator(problem, limits=limits, isolation=ev.isolation, cascade=ev.cascade)
    return LocalExecutor(evaluator, ev.max_in_flight)
