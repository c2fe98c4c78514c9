"""Entry point of every evoforge child process.

    python -I /abs/path/evoforge/harness/child.py ROLE JOB_JSON

``-I`` ignores PYTHONPATH and the user site, so the evoforge package is found
by its absolute location: its parent directory is put on ``sys.path`` only long
enough to import the harness (the trusted roles add it back at the end).
"""
import json
import os
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: child.py ROLE JOB_JSON")
    role, job = sys.argv[1], json.loads(sys.argv[2])
    parent = str(Path(__file__).resolve().parents[2])
    sys.path.insert(0, parent)
    try:
        from evoforge.harness import dispatch
    finally:
        sys.path.remove(parent)
    job.setdefault("pkg_parent", parent)
    dispatch(role, job)
    # Leave now: threads or atexit hooks left behind by the candidate must not
    # keep the process (and the evaluation) alive once the result is written.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a candidate may have closed or replaced it
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
