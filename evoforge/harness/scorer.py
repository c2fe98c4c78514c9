"""The trusted scorer process of a hardened evaluation.

It imports the problem's ``evaluator.py`` and calls ``score(candidate)``; the
candidate's code runs in another process and is reached only through
`Candidate.call`, which returns plain decoded data.  So the candidate cannot
print a score, patch the scorer or exit with a fake result: it can only
return data that the scorer checks.
"""
from __future__ import annotations

import os
import select
import threading
from typing import Any

from . import wire
from .candidate import format_exc
from .paths import load_module, setup_sys_path

NOTICE_WAIT_S = 5.0  # how long to wait for the parent's word on a dead candidate
MAX_REPLY = 256 * 1024 * 1024


class CandidateError(Exception):
    """A call into the candidate failed: it raised, returned non-plain data, or died.

    The scorer may catch it (e.g. to score a failed test case as zero); if the
    candidate process died, the evaluation fails anyway.
    """


class Candidate:
    """Handle on the candidate process, passed to ``score(candidate)``."""

    def __init__(self, req_fd: int, resp_fd: int, notice_fd: int | None = None, code_path: str | None = None):
        self._req, self._resp, self._notice = req_fd, resp_fd, notice_fd
        self._code_path = code_path
        self._code: str | None = None
        self._hello: dict | None = None
        self._lock = threading.Lock()
        self._next = 0
        self.failure: dict | None = None  # set when the candidate broke: {"kind": ..., "error": ...}

    @property
    def code(self) -> str:
        """The candidate's source text (e.g. for a length penalty)."""
        if self._code is None:
            self._code = open(self._code_path, encoding="utf-8").read() if self._code_path else ""
        return self._code

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)`` in the candidate and return its (decoded) result."""
        reply = self._roundtrip({"op": "call", "fn": fn, "args": list(args), "kwargs": kwargs}, fn)
        return reply.get("value")

    def call_many(self, fn: str, calls) -> list:
        """Call ``fn`` once per item in one round trip; a tuple item is unpacked as the
        positional arguments, any other item is the single argument."""
        batch = [list(c) if isinstance(c, tuple) else [c] for c in calls]
        reply = self._roundtrip({"op": "many", "fn": fn, "calls": batch}, fn)
        values = reply.get("values")
        if not isinstance(values, list) or len(values) != len(batch):
            raise self._broken(f"the candidate answered {len(batch)} calls of {fn}() with a malformed reply")
        return values

    # -- plumbing ----------------------------------------------------------------
    def _roundtrip(self, msg: dict, fn: str) -> dict:
        if not isinstance(fn, str):
            raise TypeError("the function name must be a string")
        with self._lock:
            if self.failure is not None:
                raise CandidateError(self.failure["error"])
            self._greet(fn)
            self._next += 1
            msg["id"] = self._next
            try:
                body = wire.dumps(msg)
            except wire.WireError as err:
                raise TypeError(f"an argument for {fn}() cannot be sent to the candidate: {err}") from None
            try:
                wire.send_raw(self._req, body)
                reply = wire.recv(self._resp, MAX_REPLY)
            except wire.ConnectionLost:
                raise self._lost(fn) from None
            except wire.WireError as err:
                raise self._broken(f"the candidate sent malformed data while running {fn}(): {err}") from None
            if not isinstance(reply, dict) or reply.get("id") != self._next:
                raise self._broken(f"the candidate sent an unexpected message while running {fn}()")
            if not reply.get("ok"):
                raise CandidateError(str(reply.get("error") or f"{fn}() failed"))
            return reply

    def _greet(self, fn: str) -> None:
        if self._hello is None:
            try:
                hello = wire.recv(self._resp, MAX_REPLY)
            except wire.ConnectionLost:
                raise self._lost(fn, importing=True) from None
            except wire.WireError as err:
                raise self._broken(f"the candidate sent malformed data while importing: {err}") from None
            if not isinstance(hello, dict) or hello.get("hello") is not True:
                raise self._broken("the candidate sent an unexpected message while importing")
            self._hello = hello
            if not hello.get("ok"):
                self.failure = {"kind": "exception", "error": str(hello.get("error") or "the program failed to import")}
        if self.failure is not None:
            raise CandidateError(self.failure["error"])

    def _lost(self, fn: str, importing: bool = False) -> CandidateError:
        notice = self._read_notice()
        doing = "while importing the program" if importing else f"while running {fn}()"
        how = notice.get("describe") or "closed its connection"
        self.failure = {"kind": notice.get("limit_hit") or "crash", "lost": True, "doing": doing,
                        "error": f"the candidate process ended {doing}: {how}"}
        return CandidateError(self.failure["error"])

    def _broken(self, message: str) -> CandidateError:
        self.failure = {"kind": "bad_result", "error": message}
        return CandidateError(message)

    def _read_notice(self) -> dict:
        """The parent writes how the candidate process ended (limit, signal...)."""
        if self._notice is None:
            return {}
        try:
            ready, _, _ = select.select([self._notice], [], [], NOTICE_WAIT_S)
            if ready:
                data = wire.recv(self._notice)
                return data if isinstance(data, dict) else {}
        except (OSError, ValueError, wire.ConnectionLost, wire.WireError):
            pass
        return {}

    def close(self) -> None:
        for fd in (self._req, self._resp):
            try:
                os.close(fd)
            except OSError:
                pass


def run_hardened(job: dict) -> dict:
    """Import the evaluator, call ``score(candidate)``, return a result dict.

    job: evaluator, root, req_fd, resp_fd, notice_fd (optional), code_path, shims, pkg_parent.
    """
    setup_sys_path(job)
    try:
        module = load_module(job["evaluator"], "evaluator")
    except BaseException as err:  # noqa: BLE001
        return import_failure(job["evaluator"], err)
    score = getattr(module, "score", None)
    if not callable(score):
        return {"status": "error", "phase": "import", "kind": "exception",
                "error": f"{os.path.basename(job['evaluator'])} defines no score(candidate) function"}
    cand = Candidate(int(job["req_fd"]), int(job["resp_fd"]), job.get("notice_fd"), job.get("code_path"))
    try:
        value = score(cand)
        out: dict[str, Any] = {"status": "ok", "value": value}
    except CandidateError as err:
        out = {"status": "error", "phase": "candidate", "kind": "exception", "error": str(err)}
    except MemoryError:
        out = {"status": "error", "phase": "score", "kind": "memory", "error": "the evaluator ran out of memory"}
    except BaseException as err:  # noqa: BLE001
        out = {"status": "error", "phase": "score", "kind": "exception",
               "error": f"score() raised {type(err).__name__}: {err}", "traceback": format_exc(err, 1)}
    finally:
        cand.close()
    if cand.failure is not None:  # the candidate broke: that decides, whatever score() made of it
        out = {"status": "error", "phase": "candidate", **cand.failure}
    return out


def import_failure(path: str, err: BaseException) -> dict:
    name = os.path.basename(path)
    first = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return {"status": "error", "phase": "import", "kind": "exception",
            "error": f"{name} failed to import: {first}", "traceback": format_exc(err, 1)}

