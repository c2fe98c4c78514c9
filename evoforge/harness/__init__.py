"""Code that runs inside evoforge's child processes (never in the engine).

Each role is a plain function of a JSON job, so a future warm fork-server can
call the same entry points without a new interpreter:

* ``run_candidate(job)``  serve calls into the candidate program (hardened kind);
* ``run_hardened(job)``   import evaluator.py and call ``score(candidate)``;
* ``run_evaluate(job)``   OpenEvolve ``evaluate(program_path)`` / stages;
* ``run_shinka(job)``     ShinkaEvolve ``main(program_path, results_dir)``.

`dispatch` runs one role and writes the result frame to ``job["result_fd"]``.
"""
from __future__ import annotations

import os
from typing import Any

from . import wire
from .scorer import Candidate, CandidateError  # noqa: F401 - for problem authors


def _roles():
    from .candidate import run_candidate
    from .runners import run_evaluate, run_shinka
    from .scorer import run_hardened

    return {"candidate": run_candidate, "hardened": run_hardened, "evaluate": run_evaluate, "shinka": run_shinka}


def dispatch(role: str, job: dict[str, Any]) -> None:
    roles = _roles()
    if role not in roles:
        raise SystemExit(f"evoforge harness: unknown role {role!r}")
    if role == "candidate":
        roles[role](job)
        return
    fd = int(job["result_fd"])
    os.set_inheritable(fd, False)  # the evaluator's own subprocesses do not get it
    result = roles[role](job)
    try:
        body = wire.dumps(result)
    except wire.WireError as err:
        body = wire.dumps({"status": "error", "phase": "result", "kind": "bad_result",
                           "error": f"the evaluator's result cannot be stored: {err}"})
    try:
        wire.send_raw(fd, body)
    except wire.ConnectionLost:
        pass
    finally:
        os.close(fd)
