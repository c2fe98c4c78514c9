"""Command line: ``evoforge run | resume | status | best | evaluate | problems | config | ui | report``.

Exit codes: 0 success; 1 the program was invalid / the run failed (e.g. the LLM
endpoint never answered); 2 usage, configuration or problem errors; 130 stopped
by Ctrl-C / SIGTERM (the run is resumable).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad arguments or inputs; printed without a traceback, exit code 2."""


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM")
    g.add_argument("--model", action="append", metavar="NAME",
                   help="model name (repeatable for an ensemble); 'local' or 'local:/path.gguf' runs in-process")
    g.add_argument("--weight", action="append", type=float, metavar="W",
                   help="weight of the matching --model (repeat once per --model)")
    g.add_argument("--api-base", action="append", metavar="URL",
                   help="OpenAI-compatible base URL, once for all models or once per --model (default: $OPENAI_BASE_URL)")
    g.add_argument("--llm-in-flight", type=int, metavar="N", help="LLM requests kept in flight")
    g = p.add_argument_group("run")
    g.add_argument("--config", metavar="YAML", help="configuration file (see docs/config.md)")
    g.add_argument("--iterations", type=int, metavar="N", help="LLM proposals to make now")
    g.add_argument("--seed", type=int, help="seed of every random decision evoforge makes")
    g.add_argument("--max-wall", type=float, metavar="SECONDS", help="stop after this long")
    g.add_argument("--target-score", type=float, help="stop once the objective reaches this value")
    g.add_argument("--max-tokens", type=int, metavar="N", help="stop once this many tokens were used")
    g.add_argument("--max-cost", type=float, metavar="MONEY",
                   help="stop new proposals once the LLM calls cost this much (prices: llm.models[] in the config)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--verbose", "-v", action="store_true", help="debug messages in the log file")
    g = p.add_argument_group("evaluation")
    _add_limit_options(g)
    g.add_argument("--eval-in-flight", type=int, metavar="N", help="evaluations running at once")
    g.add_argument("--executor", choices=["local", "ray"], help="where evaluations run (default local; docs/distributed.md)")
    g.add_argument("--ray-address", metavar="ADDR", help="Ray cluster for --executor ray (auto, HOST:PORT, ray://...)")


def _add_limit_options(g) -> None:
    g.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit per evaluation")
    g.add_argument("--memory-mb", type=int, metavar="MB", help="memory limit per evaluation")
    g.add_argument("--isolation", choices=["auto", "forkserver", "bwrap", "namespaces", "process"],
                   help="sandbox mode (docs/security.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evoforge", description="Evolve programs with LLMs against an evaluator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="start a new evolution run", description="Start a new run on a problem directory.")
    p.add_argument("problem", help="problem directory (native, OpenEvolve or ShinkaEvolve layout) "
                                   "or the name of a built-in problem (see: evoforge problems)")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<problem>-<time>)")
    _add_run_options(p)

    p = sub.add_parser("resume", help="continue a run", description="Continue a run where it stopped (nothing committed is lost).")
    p.add_argument("run_dir")
    _add_run_options(p)

    for name, text in (("status", "summary of a run"), ("best", "best program and its metrics")):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("run_dir")
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sub.choices["best"].add_argument("--front", action="store_true",
                                     help="the Pareto front over search.objectives instead (docs/features.md)")

    p = sub.add_parser("evaluate", help="score one program file in the sandbox",
                       description="Score one file with the problem's evaluator, in the sandbox; for a problem "
                                   "with a rubric, also grade it with the LLM judge given by --model/--api-base/"
                                   "--config. Exit codes: 0 valid, 1 invalid, 2 usage or problem errors.")
    p.add_argument("problem", help="problem directory or built-in problem name (see: evoforge problems)")
    p.add_argument("program", help="the program file to score")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_limit_options(p)
    from .cli_evaluate import add_judge_options

    add_judge_options(p)  # --model, --api-base, --config: the rubric judge, as for `run`

    p = sub.add_parser("ui", help="live dashboard of a run in the browser",
                       description="Serve a live dashboard of a run (read-only) on http://127.0.0.1:PORT/.")
    p.add_argument("run_dir")
    p.add_argument("--port", type=int, default=8050, help="TCP port (default 8050; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else exposes code and prompts)")
    p.add_argument("--json", action="store_true", help="print the URL as one JSON object on stdout once serving")

    p = sub.add_parser("report", help="static HTML report with PNG plots",
                       description="Write a static HTML report (index.html + PNG plots) of a run.")
    p.add_argument("run_dir")
    p.add_argument("--out", metavar="DIR", help="output directory (default: RUN_DIR/report)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = sub.add_parser("problems", help="list, show or copy the built-in problems",
                       description="The built-in problem library.  Without an action: list the problems "
                                   "(name, direction, objective, best known value and its source).")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    psub = p.add_subparsers(dest="problems_command", metavar="ACTION")
    q = psub.add_parser("list", help="list the built-in problems (the default)",
                        description="List the built-in problems: name, direction, objective, best known value and source.")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON array on stdout")
    q = psub.add_parser("show", help="print a problem's definition",
                        description="Print a problem's definition: description, objective, constraints, "
                                    "best known value, limits and the evaluator's path.")
    q.add_argument("name", help="built-in problem name (or a problem directory)")
    q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on stdout")
    q = psub.add_parser("copy", help="write an editable copy of a built-in problem",
                        description="Copy a built-in problem to DIR (which must not exist or be empty) "
                                    "to edit it; run it with: evoforge run DIR.")
    q.add_argument("name", help="built-in problem name")
    q.add_argument("dir", help="directory to create")

    p = sub.add_parser("export", help="write the run's LLM traces as JSONL (for fine-tuning / RL)",
                       description="Write one JSON line per proposal: prompt messages, reply, model, parent and "
                                   "child metrics, improvement and outcome (docs/features.md).")
    p.add_argument("run_dir")
    p.add_argument("--out", metavar="FILE", help="output file (default: RUN_DIR/traces.jsonl; '-' for stdout)")
    p.add_argument("--improved-only", action="store_true", help="only proposals whose child beat its parent")
    p.add_argument("--json", action="store_true", help="print a JSON summary (file, records) on stdout")

    p = sub.add_parser("config", help="configuration reference", description="Print the configuration reference.")
    p.add_argument("--docs", action="store_true", help="print docs/config.md (Markdown)")
    p.add_argument("--validate", metavar="YAML", help="check a configuration file and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    if args.command in ("status", "best"):  # read-only and fast: skip importing the other commands
        from . import cli_inspect as cli_commands
    else:
        from . import cli_commands

    try:
        return getattr(cli_commands, f"cmd_{args.command}")(args)
    except UsageError as err:
        print(f"evoforge: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("evoforge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
