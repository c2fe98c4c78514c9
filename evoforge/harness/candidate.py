"""The candidate process of a hardened evaluation: import the program, serve calls.

It reads request frames on ``req_fd`` and answers on ``resp_fd`` (dedicated
pipes, never stdout: candidates print).  Everything the candidate can do here
only changes the data it returns; the score is computed in another process.

Requests:  {"id": n, "op": "call", "fn": name, "args": [...], "kwargs": {...}}
           {"id": n, "op": "many", "fn": name, "calls": [[args...], ...]}
Replies:   {"id": n, "ok": true, "value": v} / {"id": n, "ok": true, "values": [...]}
           {"id": n, "ok": false, "error": text}
The first frame sent is a hello: {"hello": true, "ok": bool, "error": text}.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from . import wire
from .paths import load_module

MAX_TRACEBACK = 8000


def format_exc(err: BaseException, skip: int = 0) -> str:
    """The exception's traceback without the first `skip` (harness) frames."""
    tb = err.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(err), err, tb, limit=-30))
    if len(text) > MAX_TRACEBACK:
        text = text[: MAX_TRACEBACK // 4] + "\n  ...\n" + text[-3 * MAX_TRACEBACK // 4 :]
    return text.rstrip()


def _memory_exit(err: MemoryError) -> None:
    """Die loudly, so the sandbox attributes the failure to the memory limit."""
    try:
        sys.stderr.write(format_exc(err) + "\nMemoryError\n")
        sys.stderr.flush()
    finally:
        os._exit(1)


def _one(fn, args: list, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


def _serve(module, msg: Any) -> bytes:
    """Handle one request; always return a reply frame body."""
    if not isinstance(msg, dict) or msg.get("op") not in ("call", "many") or not isinstance(msg.get("fn"), str):
        return wire.dumps({"id": None, "ok": False, "error": "malformed request"})
    rid, name = msg.get("id"), msg["fn"]
    fn = getattr(module, name, None)
    if not callable(fn):
        return wire.dumps({"id": rid, "ok": False, "error": f"the program defines no function {name}()"})
    try:
        if msg["op"] == "call":
            reply = {"id": rid, "ok": True, "value": _one(fn, msg.get("args") or [], msg.get("kwargs") or {})}
        else:
            values = []
            for i, args in enumerate(msg.get("calls") or []):
                try:
                    values.append(_one(fn, args, {}))
                except MemoryError:
                    raise
                except BaseException as err:  # noqa: BLE001 - includes SystemExit: reported, not obeyed
                    return wire.dumps({"id": rid, "ok": False, "index": i,
                                       "error": f"call {i} of {name}() raised:\n{format_exc(err, 2)}"})
            reply = {"id": rid, "ok": True, "values": values}
    except MemoryError as err:
        _memory_exit(err)
    except BaseException as err:  # noqa: BLE001
        return wire.dumps({"id": rid, "ok": False, "error": f"{name}() raised:\n{format_exc(err, 2)}"})
    try:
        return wire.dumps(reply)
    except wire.WireError as err:
        return wire.dumps({"id": rid, "ok": False, "error": f"{name}() {err}"})
    except MemoryError as err:
        _memory_exit(err)


def run_candidate(job: dict) -> None:
    """Import ``job["program"]`` and serve calls until the scorer hangs up."""
    req, resp = int(job["req_fd"]), int(job["resp_fd"])
    for fd in (req, resp):
        os.set_inheritable(fd, False)  # not into the candidate's own subprocesses
    if job.get("workdir"):
        sys.path.insert(0, job["workdir"])
    try:
        module = load_module(job["program"], "candidate")
        hello = {"hello": True, "ok": True}
    except MemoryError as err:
        _memory_exit(err)
    except BaseException as err:  # noqa: BLE001 - SyntaxError, SystemExit, ...
        module, hello = None, {"hello": True, "ok": False,
                               "error": f"the program failed to import:\n{format_exc(err, 1)}"}
    try:
        wire.send(resp, hello)
        while module is not None:
            try:
                msg = wire.recv(req)
            except wire.WireError as err:
                wire.send(resp, {"id": None, "ok": False, "error": f"malformed request: {err}"})
                continue
            wire.send_raw(resp, _serve(module, msg))
    except wire.ConnectionLost:
        pass  # the scorer is done
