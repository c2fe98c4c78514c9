"""`evoforge problems [list | show NAME | copy NAME DIR]`: the built-in problem library."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from . import problems as registry
from .cli import EXIT_FAILED, EXIT_OK, UsageError
from .problem import Problem, ProblemError, load_problem


def _title(problem: Problem) -> str:
    lines = [ln.strip() for ln in problem.description.splitlines() if ln.strip()]
    return lines[0] if lines else ""


def short_source(source: str | None) -> str:
    """'AlphaEvolve (Novikov et al., arXiv:2506.13131, 2025), Appendix B.8; ...' -> 'AlphaEvolve, arXiv:2506.13131'."""
    if not source:
        return ""
    head = re.split(r"[(;.]", source, maxsplit=1)[0].strip().rstrip(",")
    arxiv = re.search(r"arXiv:\s*[\w.]+", source)
    text = head + (f", {arxiv.group(0).replace(' ', '')}" if arxiv and arxiv.group(0) not in head else "")
    return text if len(text) <= 60 else text[:57] + "..."


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.12g}"


def _record(problem: Problem, full: bool = False) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "name": problem.name, "title": _title(problem), "direction": problem.direction,
        "objective": problem.objective, "best_known": problem.best_known,
        "best_known_source": problem.best_known_source, "proven_bound": problem.proven_bound,
        "path": str(problem.root),
    }
    if full:
        rec.update(description=problem.description, evaluator=str(problem.evaluator_path),
                   evaluator_kind=problem.evaluator_kind, initial_program=str(problem.initial_program),
                   limits={"timeout_s": problem.limits.timeout_s, "memory_mb": problem.limits.memory_mb},
                   format=problem.format)
    return rec


def _load(name: str) -> Problem:
    try:
        return load_problem(name)  # a built-in name, or any problem directory
    except ProblemError as err:
        raise UsageError(str(err)) from None


def _list(args) -> int:
    problems, broken = [], []
    for name in registry.names():
        try:
            problems.append(load_problem(registry.BUILTIN_DIR / name))
        except ProblemError as err:  # a broken built-in problem: list the others, say which, exit 1
            broken.append(name)
            print(f"evoforge: error: built-in problem {name} is broken: {err}", file=sys.stderr)
    status = EXIT_FAILED if broken else EXIT_OK
    if args.json:
        print(json.dumps([_record(p) for p in problems]))
        return status
    rows = [("NAME", "DIRECTION", "OBJECTIVE", "BEST KNOWN", "SOURCE")]
    rows += [(p.name, p.direction, p.objective, _fmt(p.best_known), short_source(p.best_known_source))
             for p in problems]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])
    print(f"\n{len(problems)} built-in problems.  evoforge problems show NAME | copy NAME DIR | "
          f"evoforge run NAME ...")
    return status


def _show(args) -> int:
    p = _load(args.name)
    if args.json:
        print(json.dumps(_record(p, full=True)))
        return EXIT_OK
    lim = p.limits
    limits = f"timeout {lim.timeout_s:g} s, memory {lim.memory_mb} MB" + (f", CPU {lim.cpu_s:g} s" if lim.cpu_s else "")
    kind = {"hardened": "hardened: score(candidate), the candidate runs in its own sandboxed process",
            "evaluate": "evaluate(program_path), OpenEvolve style",
            "shinka": "main(program_path, results_dir), ShinkaEvolve style"}
    fields = [
        ("name", p.name),
        ("objective", f"{p.objective} ({p.direction})"),
        ("best known", "-" if p.best_known is None else _fmt(p.best_known) if float(p.best_known).is_integer()
         else repr(p.best_known)),
        ("source", p.best_known_source or "-"),
        ("proven bound", _fmt(p.proven_bound)),
        ("limits", limits),
        ("directory", str(p.root)),
        ("evaluator", f"{p.evaluator_path} ({kind.get(p.evaluator_kind, p.evaluator_kind)})"),
        ("initial program", str(p.initial_program)),
    ]
    for label, value in fields:
        print(f"{label + ':':17}{value}")
    print()
    print(p.description.rstrip() or "(no description)")
    return EXIT_OK


def _copy(args) -> int:
    if registry.builtin_path(args.name) is None:
        raise UsageError(registry.unknown_message(args.name))
    try:
        dest = registry.copy(args.name, args.dir)
    except FileExistsError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"cannot write {args.dir}: {err}") from None
    files = sorted(f.name for f in Path(dest).iterdir())
    print(f"wrote {dest} ({', '.join(files)}): an editable copy of the built-in problem {args.name}")
    print(f"run it with: evoforge run {dest}")
    return EXIT_OK


def cmd_problems(args) -> int:
    action = getattr(args, "problems_command", None) or "list"
    return {"list": _list, "show": _show, "copy": _copy}[action](args)
