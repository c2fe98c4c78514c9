"""`evoforge ui` (the live dashboard) and `evoforge report` (a static HTML report).

Both only read the run database, so they can be used while the run is going.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from .cli import EXIT_OK, UsageError
from .rundir import RunDir


def _run_dir(arg: str) -> Path:
    run_dir = RunDir(arg)
    if not run_dir.path.is_dir():
        raise UsageError(f"run directory not found: {run_dir.path}")
    if not run_dir.exists():
        raise UsageError(f"{run_dir.path} is not an evoforge run directory (no evoforge.db)")
    return run_dir.path


def cmd_ui(args) -> int:
    from .ui.server import is_loopback, make_server

    path = _run_dir(args.run_dir)
    host = args.host
    remote = not is_loopback(host.strip("[]"))
    try:
        server = make_server(path, host=host, port=args.port, allow_remote=remote)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"cannot listen on {host}:{args.port}: {err.strerror or err} "
                         "(choose another port with --port, or --port 0 for any free one)") from None
    if remote:
        print(f"evoforge: warning: the dashboard is reachable from other machines on {host}; it shows code, "
              "prompts and replies and has no authentication", file=sys.stderr)
    # SIGTERM stops the server as Ctrl-C does (shutdown() must come from another thread).
    stop = lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()  # noqa: E731
    previous = signal.signal(signal.SIGTERM, stop)
    if args.json:
        print(json.dumps({"url": server.url, "run_dir": str(path), "host": host,
                          "port": server.server_address[1]}), flush=True)
    else:
        print(f"evoforge dashboard for {path} at {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        server.data.close()
    return EXIT_OK


def cmd_report(args) -> int:
    path = _run_dir(args.run_dir)
    try:
        from .report import write_report
    except ImportError as err:
        raise UsageError(f"the report needs matplotlib ({err}); install it with: pip install 'evoforge[ui]'") from None
    from .ui.data import RunDataError

    try:
        index = write_report(path, args.out)
    except RunDataError as err:
        raise UsageError(str(err)) from None
    figures = sorted(p.name for p in index.parent.glob("*.png"))
    if args.json:
        print(json.dumps({"index": str(index), "out_dir": str(index.parent), "figures": figures}))
    else:
        print(f"report written to {index} ({len(figures)} figures)")
    return EXIT_OK
