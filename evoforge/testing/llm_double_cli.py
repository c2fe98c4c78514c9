"""Command line of the LLM test double: ``python -m evoforge.testing.llm_double``.

Prints the base URL (…/v1) on the first line of stdout once it is listening, so a
benchmark can start it as a subprocess and read where to connect.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from .llm_double import MODES, LLMDouble


def _failure(text: str) -> dict:
    """STATUS[:COUNT[:RETRY_AFTER]]; COUNT 0 or missing means every request."""
    parts = text.split(":")
    try:
        status = int(parts[0])
        count = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        retry_after = float(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fail expects STATUS[:COUNT[:RETRY_AFTER]], got {text!r}") from None
    return {"status": status, "count": count or None, "retry_after": retry_after}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evoforge.testing.llm_double",
                                description="OpenAI-compatible test double for evoforge.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--mode", choices=MODES, default="perturb", help="fallback behaviour (default perturb)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rewrite-fraction", type=float, default=None,
                   help="perturb: probability of a full rewrite instead of a diff (default: do what the prompt asks)")
    p.add_argument("--script-file", type=Path, help="JSON list of canned replies returned first, in order")
    p.add_argument("--reply", action="append", default=[], help="a canned reply (repeatable; after --script-file)")
    p.add_argument("--fail", type=_failure, action="append", default=[], metavar="STATUS[:COUNT[:RETRY_AFTER]]",
                   help="answer HTTP STATUS to the next COUNT requests (all if COUNT is 0 or missing)")
    p.add_argument("--api-key", help="answer 401 unless this key is sent")
    p.add_argument("--models", help="comma-separated model names; others get 404 (default: accept any)")
    p.add_argument("--no-record", action="store_true", help="do not keep requests (long benchmarks)")
    p.add_argument("--judge", choices=["fair", "gullible", "garbage"],
                   help="answer evoforge's rubric-judge requests this way (default: like any other request)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    script: list[str] = []
    if args.script_file:
        try:
            script = json.loads(args.script_file.read_text())
        except (OSError, ValueError) as err:
            print(f"llm_double: cannot read --script-file {args.script_file}: {err}", file=sys.stderr)
            return 2
    try:
        double = LLMDouble(host=args.host, port=args.port, mode=args.mode, latency=args.latency, seed=args.seed,
                           script=script + args.reply, rewrite_fraction=args.rewrite_fraction, judge=args.judge,
                           api_key=args.api_key, models=args.models.split(",") if args.models else None,
                           record=not args.no_record)
        if args.fail:
            double.control(fail=args.fail)
    except ValueError as err:
        print(f"llm_double: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(double))


async def _serve(double: LLMDouble) -> int:
    try:
        await double.open()
    except OSError as err:
        print(f"llm_double: cannot listen on {double.host}:{double.port}: {err}", file=sys.stderr)
        return 1
    print(double.base_url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await double.aclose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
