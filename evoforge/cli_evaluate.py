"""`evoforge evaluate PROBLEM FILE`: score one file in the sandbox, and grade it with the
problem's rubric judge when the problem declares a rubric and a judge endpoint is given.

The judge is configured as for `run`: `--model`, `--api-base` and `--config` (``llm.models``
and the ``judge:`` section), on top of the problem's own ``config:``.  Without an endpoint
the rubric metrics are not computed, and the output says so and how to get them.
Exit codes: 0 valid, 1 invalid (the sandbox or the judge said so, or the judge's endpoint
could not be reached), 2 usage or problem errors.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import config as cfg

from .cli import EXIT_FAILED, EXIT_OK, UsageError

HOW = ("pass --api-base URL --model NAME (an OpenAI-compatible endpoint), --config YAML with llm.models, "
       "or --model local (the bundled local model)")


def add_judge_options(p) -> None:
    """`evaluate`'s options for the rubric judge: the same as `run`'s LLM options."""
    g = p.add_argument_group("rubric judge", "for a problem with a rubric (docs/features.md): the LLM that grades "
                                             "the file, chosen as for `run` (the judge: section, else the first model)")
    g.add_argument("--model", action="append", metavar="NAME",
                   help="model name; 'local' or 'local:/path.gguf' runs in-process")
    g.add_argument("--api-base", action="append", metavar="URL",
                   help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL)")
    g.add_argument("--config", metavar="YAML", help="run configuration (llm.models, judge: ...; see docs/config.md)")
    p.set_defaults(weight=None)


def judge_config(problem, args) -> tuple[cfg.Config | None, str]:
    """(the run configuration the judge uses, "") or (None, why the rubric cannot be graded)."""
    from . import config as cfg
    from .cli_run import _models

    data: dict[str, Any] = problem.run_config
    if args.config:
        try:
            data = cfg.merge(data, cfg.read_yaml(Path(args.config)))
        except cfg.ConfigError as err:
            raise UsageError(str(err)) from None
    llm = dict(data.get("llm") or {})
    llm["models"] = _models(args, list(llm.get("models") or []))
    data = {**data, "llm": llm}
    try:
        config = cfg.validate(data, args.config or "command line")
    except cfg.ConfigError as err:
        raise UsageError(str(err)) from None
    if not config.llm.models:
        return None, "no judge endpoint given"
    if not config.judge.enabled:
        return None, "judge.enabled is false in the configuration"
    for m in config.llm.models:
        if not m.name.startswith("local") and not (m.api_base or os.environ.get("OPENAI_BASE_URL")):
            raise UsageError(f"model '{m.name}' has no endpoint: pass --api-base URL or set OPENAI_BASE_URL")
    return config, ""


async def _grade(problem, config: cfg.Config, code: str, result):
    from .judge import Judge, judge_backend, judge_prices, problem_context
    from .llm import Ensemble

    ensemble = Ensemble.from_config(config.llm)
    backend, name = judge_backend(config, ensemble)
    judge = Judge(problem.rubric, config.judge, backend, name, context=problem_context(problem, problem.rubric),
                  prices=judge_prices(config, name))
    return await judge.apply(code, result), judge


def cmd_evaluate(args) -> int:
    import asyncio
    from .cli_run import _load_problem
    from .evaluate import Evaluator
    from .llm import EndpointUnavailable

    problem = _load_problem(args.problem)
    path = Path(args.program)
    if not path.is_file():
        raise UsageError(f"program file not found: {path}")
    rubric = getattr(problem, "rubric", None)
    config, why_not = judge_config(problem, args) if rubric is not None else (None, "")
    if rubric is None and (args.model or args.api_base or args.config):
        print("evoforge: note: this problem has no rubric, so no judge is asked "
              "(--model, --api-base and --config only choose the rubric judge)", file=sys.stderr)
    limits = problem.limits
    if args.timeout is not None:
        limits = replace(limits, timeout_s=args.timeout)
    if args.memory_mb is not None:
        limits = replace(limits, memory_mb=args.memory_mb)
    code = path.read_text()
    evaluator = Evaluator(problem, limits=limits, isolation=args.isolation or "auto")
    try:
        result = evaluator.evaluate(code)
    finally:
        evaluator.close()
    judged: dict[str, Any] | None = None
    fatal = None
    if rubric is not None and config is None:
        why_not += f"; to compute {', '.join(rubric.metric_names())}, {HOW}"
    elif rubric is not None and not result.valid:
        why_not = "the program is invalid (the judge grades valid programs only)"
    elif rubric is not None:
        try:
            result, judge = asyncio.run(_grade(problem, config, code, result))
        except EndpointUnavailable as err:
            why_not = fatal = f"the rubric judge's endpoint is unavailable: {err}"
        else:
            feedback = result.artifacts.get("judge")
            if feedback is None:  # no valid grading (judge_failed), or nothing to grade: invalid, as in a run
                why_not = result.error or "the rubric judge gave no grading"
            else:
                u = judge.usage
                judged = {"model": judge.model, "requests": u.requests, "cost": round(u.cost, 9),
                          "tokens": u.prompt_tokens + u.completion_tokens, **feedback}
    return _report(args, path, result, rubric, judged, why_not, fatal)


def _report(args, path: Path, result, rubric, judged: dict[str, Any] | None, why_not: str, fatal: str | None) -> int:
    valid = result.valid and fatal is None
    out: dict[str, Any] = dict(result.metrics)
    out.update(valid=valid, error=fatal or result.error, failure_kind=result.failure_kind)
    if rubric is not None:
        out["rubric"] = ({"computed": True, "flagged": "penalty" in judged, **judged} if judged is not None else
                         {"computed": False, "reason": why_not, "metrics": rubric.metric_names()})
    if args.json:
        print(json.dumps(out, default=str))
        if rubric is not None and judged is None:
            print(f"evoforge: note: rubric metrics not computed: {why_not}", file=sys.stderr)
    else:
        status = "valid" if result.valid else f"INVALID ({result.failure_kind}): {result.error}"
        print(f"{path}: {status}")
        for k, v in sorted(result.metrics.items()):
            print(f"  {k} = {v}")
        if judged is not None:
            scores = ", ".join(f"{k} {v}" for k, v in (judged.get("scores") or {}).items())
            print(f"rubric judge ({judged['model']}): rubric_score {judged.get('rubric_score')}; {scores}")
            print(f"  rationale: {judged.get('rationale') or '(none)'}")
            if judged.get("penalty"):
                print(f"  penalty: {judged['penalty']}")
            n = judged["requests"]
            cost = f", cost ${judged['cost']:.4f}" if judged["cost"] else ""
            print(f"  {n} judge request{'s' if n != 1 else ''}, {judged['tokens']} tokens{cost}")
        elif rubric is not None:
            print(f"rubric    not computed: {why_not}")
        if not result.valid and result.stderr.strip():
            print("stderr:\n" + result.stderr.strip()[-2000:])
    if fatal:
        print(f"evoforge: error: {fatal}", file=sys.stderr)
    return EXIT_OK if valid else EXIT_FAILED
