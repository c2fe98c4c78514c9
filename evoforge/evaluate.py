"""Evaluation: a candidate's code in, an `EvalResult` out.

Every evaluation gets a fresh private temporary directory and sandboxed child
processes (see `evoforge.sandbox`); the code that runs inside them is in
`evoforge.harness`.  Results come back as one JSON frame on a dedicated pipe,
never on stdout (candidates print).

Evaluator kinds (``Problem.evaluator_kind``):

* ``hardened`` - two processes.  The trusted scorer imports evaluator.py and
  calls ``score(candidate)``; the candidate process imports the program and
  serves ``candidate.call(...)`` over a pipe.  The candidate cannot see the
  problem directory and can influence the score only through returned data.
  (Against a candidate with full access to the host - isolation ``none`` as
  root - no process boundary is a guarantee; use a stronger isolation mode.)
* ``evaluate`` (OpenEvolve) and ``shinka`` (ShinkaEvolve) - one sandboxed
  process runs the evaluator, which runs the candidate itself: the sandbox
  protects the host, but nothing protects the score from the candidate.

`Evaluator.evaluate` never raises for anything the candidate does.
"""
from __future__ import annotations

import ast
import importlib.util
import logging
import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import records as R
from .compat import SHIMS_DIR
from .harness.parent import Fds, Malformed, ResultReader, how_it_ended, quiet, remove_tree, watch_candidate
from .problem import Problem, ProblemError
from .records import EvalResult, Limits
from .sandbox import RunResult, Sandbox, SandboxError, clean_env
from .sandbox.env import owned_tempdir, remove_stale

log = logging.getLogger(__name__)

PKG_DIR = Path(__file__).resolve().parent
GRACE_S = 2.0  # the scorer outlives the candidate, so it can report the candidate's end
WORKDIR_PREFIX = "evoforge-eval-"  # + pid: an evaluation's directory (see sandbox.env.owned_tempdir)
MAX_TEXT = 20_000  # characters of stdout/stderr kept in an EvalResult (head + tail)
KINDS = {R.TIMEOUT, R.MEMORY, R.CPU, R.OUTPUT, R.DISK, R.PROCESSES, R.CRASH, R.EXCEPTION,
         R.INVALID, R.BAD_RESULT, R.SUSPICIOUS}


class _Closed(Exception):
    pass


class Evaluator:
    """Scores candidate programs with a problem's evaluator.  Thread-safe."""

    def __init__(self, problem: Problem, limits: Limits | None = None, isolation: str = "auto", cascade: bool = True):
        if problem.evaluator_kind not in ("hardened", "evaluate", "shinka"):
            raise ProblemError(f"unknown evaluator kind {problem.evaluator_kind!r}")
        if problem.evaluator_kind == "hardened" and problem.initial_program.suffix != ".py":
            raise ProblemError(f"score(candidate) evaluators need a Python program, not {problem.initial_program.name}")
        self.problem, self.cascade = problem, cascade
        self.limits = limits or problem.limits
        remove_stale(WORKDIR_PREFIX, remove_tree)  # left by evaluators of killed controllers
        grants = [Path(g) for g in problem.grants]
        trusted = [problem.root, PKG_DIR, *grants]
        scorer_imports = preload_modules(problem.evaluator_path, problem.root)
        if problem.evaluator_kind == "hardened":
            # The scorer runs only trusted code: no init process above it (one fork less).
            self._trusted_box = Sandbox(replace(self.limits, timeout_s=self.limits.timeout_s + GRACE_S),
                                        isolation, read_paths=trusted, preload=scorer_imports, init=False)
            self._cand_box = Sandbox(self.limits, isolation, read_paths=[PKG_DIR, *grants], hide_paths=[problem.root],
                                     preload=preload_modules(problem.initial_program, problem.root))
            self._boxes = [self._trusted_box, self._cand_box]
        else:
            self._trusted_box = Sandbox(self.limits, isolation, read_paths=trusted, preload=scorer_imports)
            self._boxes = [self._trusted_box]
        self.isolation: str = self._trusted_box.mode
        self._lock = threading.Lock()
        self._running: set = set()
        self._closed = False

    # -- public API ----------------------------------------------------------------
    def evaluate(self, code: str) -> EvalResult:
        """Score `code` (blocking).  Every failure is an invalid EvalResult."""
        try:
            return self._evaluate(code)[0]
        except SandboxError as err:
            log.error("sandbox failure: %s", err)
            return EvalResult.failure(R.CRASH, f"the sandbox could not run the evaluation: {err}",
                                      isolation=self.isolation)

    def check(self) -> EvalResult:
        """Evaluate the initial program; raise ProblemError if the problem is unusable."""
        try:
            result, phase = self._evaluate(self.problem.initial_code)
        except SandboxError as err:
            raise ProblemError(f"the sandbox could not run the evaluator: {err}") from None
        if phase == "import":
            raise ProblemError(result.error or "the evaluator failed to import")
        if not result.valid:
            raise ProblemError(f"the initial program is invalid under the evaluator: {result.error}")
        return result

    def close(self) -> None:
        """Kill evaluations in flight; later calls to evaluate() fail at once."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - already gone
                pass
        for box in self._boxes:
            box.close()  # stops their fork-servers

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one evaluation ----------------------------------------------------------------
    def _evaluate(self, code: str) -> tuple[EvalResult, str | None]:
        t0 = time.monotonic()
        tmp = owned_tempdir(WORKDIR_PREFIX)
        try:
            kind = self.problem.evaluator_kind
            runner = self._run_hardened if kind == "hardened" else self._run_single
            result, phase = runner(code, tmp)
        except _Closed:
            result, phase = EvalResult.failure(R.CRASH, "the evaluator was closed (run stopping)"), None
        finally:
            remove_tree(tmp)
        if self._closed and not result.valid:  # killed by close(): say so, not "crashed"
            result = EvalResult.failure(R.CRASH, "the evaluation was stopped: the evaluator was closed")
        result.duration_s = time.monotonic() - t0
        result.isolation = self.isolation
        flags = result.artifacts.get("flags") if isinstance(result.artifacts, dict) else None
        if isinstance(flags, list):  # a scorer's way to flag a result (e.g. "suspicious" speed-ups)
            result.flags = sorted({*result.flags, *(str(f)[:40] for f in flags[:10])})
        return result, phase

    def _start(self, box: Sandbox, role: str, job: dict, workdir: Path, fds: tuple[int, ...]):
        if self._closed:
            raise _Closed()
        proc = box.start_role(role, job, workdir=workdir, env=clean_env(workdir), pass_fds=fds)
        with self._lock:  # spawning stays outside the lock: evaluations start in parallel
            self._running.add(proc)
            closed = self._closed
        if closed:  # close() ran while we were spawning
            quiet(proc.kill)
        return proc

    def _done(self, proc) -> None:
        with self._lock:
            self._running.discard(proc)

    def _base_job(self) -> dict:
        p = self.problem
        return {"evaluator": str(p.evaluator_path), "root": str(p.root), "shims": str(SHIMS_DIR)}

    def _write_program(self, code: str, workdir: Path) -> Path:
        path = workdir / ("program" + (self.problem.initial_program.suffix or ".txt"))
        path.write_text(code, encoding="utf-8")
        return path

    def _run_single(self, code: str, tmp: Path) -> tuple[EvalResult, str | None]:
        """OpenEvolve / ShinkaEvolve: evaluator and candidate in one sandboxed process."""
        p = self.problem
        program = self._write_program(code, tmp)
        job = {**self._base_job(), "program": str(program), "workdir": str(tmp)}
        if p.evaluator_kind == "evaluate":
            job.update(stages=p.stages, thresholds=p.cascade_thresholds, cascade=self.cascade,
                       objective=p.objective, maximize=p.maximize)
        fds = Fds()
        try:
            r, w = fds.pipe()
            job["result_fd"] = w
            proc = self._start(self._trusted_box, p.evaluator_kind, job, tmp, (w,))
            fds.close(w)
            reader = ResultReader(fds.take(r))
            try:
                run = proc.wait()
            except BaseException:
                quiet(proc.kill)
                raise
            finally:
                self._done(proc)
            payload = reader.result()
        finally:
            fds.close_all()
        result, phase = self._convert(payload, run, "evaluator")
        result.stdout, result.stderr = _text(run.stdout), _text(run.stderr)
        return result, phase

    def _run_hardened(self, code: str, tmp: Path) -> tuple[EvalResult, str | None]:
        """Scorer and candidate in two processes joined by two pipes."""
        cdir, sdir = tmp / "candidate", tmp / "scorer"
        cdir.mkdir()
        sdir.mkdir()
        program = self._write_program(code, cdir)
        code_copy = sdir / "candidate_code.txt"
        code_copy.write_text(code, encoding="utf-8")
        fds = Fds()
        cand = scorer = None
        ended: dict[str, RunResult] = {}
        try:
            to_cand_r, to_cand_w = fds.pipe()
            from_cand_r, from_cand_w = fds.pipe()
            notice_r, notice_w = fds.pipe()
            result_r, result_w = fds.pipe()
            cand = self._start(self._cand_box, "candidate",
                               {"program": str(program), "workdir": str(cdir), "req_fd": to_cand_r, "resp_fd": from_cand_w},
                               cdir, (to_cand_r, from_cand_w))
            fds.close(to_cand_r, from_cand_w)
            job = {**self._base_job(), "req_fd": to_cand_w, "resp_fd": from_cand_r, "notice_fd": notice_r,
                   "result_fd": result_w, "code_path": str(code_copy), "workdir": str(sdir)}
            scorer = self._start(self._trusted_box, "hardened", job, sdir,
                                 (to_cand_w, from_cand_r, notice_r, result_w))
            fds.close(to_cand_w, from_cand_r, notice_r, result_w)
            reader = ResultReader(fds.take(result_r))
            watcher = threading.Thread(target=watch_candidate, args=(cand, fds.take(notice_w), ended), daemon=True)
            watcher.start()
            run = scorer.wait()
            ended["scorer"] = run
            cand.kill()  # the scorer is done (or dead): the candidate has nothing left to do
            watcher.join()
            payload = reader.result()
        finally:
            for name, proc in (("candidate", cand), ("scorer", scorer)):
                if proc is not None:
                    if name not in ended:  # an exception (or close()) got here first
                        quiet(proc.kill)
                    self._done(proc)
            fds.close_all()
        crun = ended.get("candidate")
        result, phase = self._convert(payload, run, "evaluator", candidate_run=crun)
        cout, cerr = (crun.stdout, crun.stderr) if crun is not None else (b"", b"")
        result.stdout = _text(cout) + _labelled("evaluator stdout", run.stdout)
        result.stderr = _text(cerr) + _labelled("evaluator stderr", run.stderr)
        return result, phase

    # -- result conversion ---------------------------------------------------------------
    def _convert(self, payload: Any, run: RunResult, who: str,
                 candidate_run: RunResult | None = None) -> tuple[EvalResult, str | None]:
        """Map the harness's payload and how the process ended onto an EvalResult."""
        if run.limit_hit is not None:
            return EvalResult.failure(run.limit_hit, f"the {who} process was {run.describe()}"), None
        if not isinstance(payload, dict) or "status" not in payload:
            if isinstance(payload, Malformed):
                return EvalResult.failure(R.BAD_RESULT, f"the {who} sent a malformed result: {payload}"), None
            return EvalResult.failure(R.CRASH, f"the {who} process ended without a result ({run.describe()})"), None
        if run.returncode != 0:
            return EvalResult.failure(R.CRASH, f"the {who} process {run.describe()}"), None
        stage = payload.get("stage")
        if payload["status"] != "ok":
            return self._failure(payload, candidate_run), payload.get("phase")
        kind = self.problem.evaluator_kind
        if kind == "hardened":
            value = payload.get("value")
            if not isinstance(value, dict):
                return EvalResult.failure(R.BAD_RESULT, f"score() returned {type(value).__name__}, "
                                                        "expected a dict of metrics"), None
            if "valid" in value and not value["valid"]:  # the scorer's way to reject a candidate
                return self._invalid(value, value.get("error")), None
            raw, extra = dict(value), {}
        elif kind == "shinka":
            raw, correct = dict(payload.get("metrics") or {}), payload.get("correct") or {}
            extra = {"correct": correct}
            if correct.get("correct") is not True:
                return self._invalid(raw, correct.get("error"), extra), None
        else:
            raw, extra = dict(payload.get("metrics") or {}), dict(payload.get("artifacts") or {})
        return self._metrics_result(raw, extra, stage), None

    def _metrics_result(self, raw: dict, extra: dict, stage: int | None) -> EvalResult:
        metrics, artifacts = split_metrics(raw)
        artifacts.update(extra)
        obj = self.problem.objective
        if obj not in metrics and self.problem.evaluator_kind == "evaluate" and obj == "combined_score":
            # OpenEvolve ranks a program without combined_score by the mean of its numeric metrics.
            vals = [float(v) for k, v in metrics.items() if k != "error"]
            if vals:
                metrics[obj] = sum(vals) / len(vals)
                artifacts["combined_score_note"] = "no combined_score returned: mean of the numeric metrics"
        if obj not in metrics and obj in self.problem.judged_metrics():  # the rubric judge adds it (judge.py)
            return EvalResult(valid=True, metrics=metrics, artifacts=_jsonable(artifacts), stage=stage)
        if obj not in metrics:
            got = ", ".join(sorted(metrics)) or "none"
            return EvalResult.failure(R.BAD_RESULT, f"the evaluator returned no numeric '{obj}' metric "
                                                    f"(the problem's objective); numeric metrics: {got}",
                                      artifacts=_jsonable(artifacts), stage=stage)
        if not math.isfinite(float(metrics[obj])):
            return EvalResult.failure(R.INVALID, f"the objective '{obj}' is {metrics[obj]}, not a finite number",
                                      metrics=metrics, artifacts=_jsonable(artifacts), stage=stage)
        return EvalResult(valid=True, metrics=metrics, artifacts=_jsonable(artifacts), stage=stage)

    def _invalid(self, raw: dict, error: Any, extra: dict | None = None) -> EvalResult:
        metrics, artifacts = split_metrics({k: v for k, v in raw.items() if k not in ("valid", "error")})
        artifacts.update(extra or {})
        msg = str(error) if error else "the evaluator declared the candidate invalid"
        return EvalResult.failure(R.INVALID, msg, metrics=metrics, artifacts=_jsonable(artifacts))

    def _failure(self, payload: dict, candidate_run: RunResult | None) -> EvalResult:
        kind = payload.get("kind") if payload.get("kind") in KINDS else R.EXCEPTION
        error = str(payload.get("error") or "the evaluation failed")
        if payload.get("lost") and candidate_run is not None:  # the sandbox knows best how it ended
            kind = candidate_run.limit_hit or R.CRASH
            error = f"the candidate process ended {payload.get('doing') or 'early'}: {how_it_ended(candidate_run)}"
        if kind == R.MEMORY and "limit" not in error:
            error += f" (memory limit {self.limits.memory_mb} MB)"
        artifacts = {k: payload[k] for k in ("traceback", "partial_metrics") if k in payload}
        return EvalResult.failure(kind, error, artifacts=_jsonable(artifacts), stage=payload.get("stage"))


# -- helpers -----------------------------------------------------------------------------
def preload_modules(path: Path, root: Path) -> list[str]:
    """Installed top-level modules a Python file imports at module level (not the problem's own
    modules): the fork-server imports them once, so no evaluation pays for numpy again."""
    if path.suffix != ".py":
        return []
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    local = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if p.is_dir()}
    tops = sorted({n.split(".")[0] for n in names} - local - {"evoforge"})
    return [n for n in tops if importlib.util.find_spec(n) is not None][:20]


def split_metrics(raw: dict) -> tuple[dict[str, float], dict[str, Any]]:
    """Numbers (int, float, bool) are metrics; everything else is an artifact."""
    metrics: dict[str, float] = {}
    artifacts: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, (int, float)):  # bool is an int
            metrics[str(k)] = v
        else:
            artifacts[str(k)] = v
    return metrics, artifacts


def _jsonable(obj: Any) -> Any:
    """Artifacts as plain JSON: arrays to lists, complex to [re, im]."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, complex):
        return [obj.real, obj.imag]
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    return obj


def _text(data: bytes) -> str:
    return clip(data.decode("utf-8", "replace"))


def _labelled(label: str, data: bytes) -> str:
    return f"\n--- {label} ---\n{_text(data)}" if data.strip() else ""


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Keep the head and the tail of a long text."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters omitted] ...\n{text[-half:]}"
