"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

Real HTTP, real sockets: the client under test cannot tell it from a model server.
What it answers is scripted (see `LLMDouble`), from Python or over HTTP:

    POST /v1/chat/completions   the OpenAI protocol (non-streaming)
    GET  /v1/models             lists the configured model names
    GET  /_requests             every chat request seen (messages, model, temperature, ...)
    GET  /_control              current behaviour; POST /_control changes it (JSON, keys
                                as `LLMDouble.control`)

Standalone:  python -m evoforge.testing.llm_double --port 8000 --mode perturb --latency 0.5
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import threading
import time
from collections import deque
from typing import Any, Iterable

from .jsonserver import JSONServer, Reply, wait_for_disconnect
from .judge_double import KINDS as JUDGE_KINDS, answer as judge_answer, is_judge_request
from .perturb import asks_for_diff, find_program, propose

MODES = ("perturb", "echo", "garbage", "hang", "script")
_WORDS = ("lorem ipsum dolor sit amet quantum banana river seven purple engine cloud "
          "vector marble orbit silent paper window maybe because therefore").split()


def _error(status: int, message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": status}}


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the usual rough estimate; good enough for accounting tests


class LLMDouble:
    """The server and its behaviour.

    Per request, in order: the request is recorded; `latency` seconds pass; a pending
    injected failure (`fail`) answers with its HTTP status; else the next scripted reply
    (`script`) is returned; else the fallback `mode` decides:
      perturb - nudge numbers in the prompt's program (diff or rewrite, see `rewrite_fraction`:
                None follows what the prompt asks for, a float is the probability of a rewrite);
      echo    - return the last user message;   garbage - random words, no code;
      hang    - never answer (until the client disconnects);
      script  - scripted replies only: an exhausted script answers 410.
    Optional `api_key` makes it answer 401 to other keys; optional `models` answers 404
    to other model names.
    Grading requests of evoforge's rubric judge (recognised by its system message) are
    answered by `judge` when it is set (before the script): ``fair``, ``gullible`` (full
    marks whenever the prompt tells the grader to give them) or ``garbage``; see
    `judge_double`.  With `judge` None they are answered like any other request.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, mode: str = "perturb", latency: float = 0.0,
                 seed: int = 0, script: Iterable[str] = (), rewrite_fraction: float | None = None,
                 api_key: str | None = None, models: Iterable[str] | None = None, record: bool = True,
                 judge: str | None = None):
        self.host, self.port = host, port
        self.api_key, self.record = api_key, record
        self.models = list(models) if models else []
        self._lock = threading.Lock()
        self._defaults = dict(mode=mode, latency=latency, seed=seed, rewrite_fraction=rewrite_fraction, judge=judge)
        self._requests: list[dict[str, Any]] = []
        self._in_flight = self._max_in_flight = self._served = 0
        self._script: deque[str] = deque()
        self._failures: deque[list] = deque()  # [status, remaining or None (forever), retry_after]
        self.control(**self._defaults, script=list(script))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: JSONServer | None = None

    # -- behaviour control (thread-safe; also reachable as POST /_control) ------------------
    def control(self, **changes: Any) -> dict[str, Any]:
        """Change behaviour. Keys: mode, latency, seed, rewrite_fraction, judge, script (replaces the
        queue), append_script, fail ({status, count, retry_after} or a list of them),
        clear_failures, clear_requests, reset (back to the constructor's settings).
        Returns the resulting state."""
        known = {"mode", "latency", "seed", "rewrite_fraction", "judge", "script", "append_script", "fail",
                 "clear_failures", "clear_requests", "reset"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown control key(s) {sorted(unknown)}; known: {sorted(known)}")
        with self._lock:
            if changes.get("reset"):
                self._requests.clear()
                self._max_in_flight = self._served = 0
                self._script.clear()
                self._failures.clear()
                self._control_locked(self._defaults)
            self._control_locked(changes)
            return self._state_locked()

    def _control_locked(self, changes: dict[str, Any]) -> None:
        if "mode" in changes:
            if changes["mode"] not in MODES:
                raise ValueError(f"unknown mode {changes['mode']!r}; choose one of {', '.join(MODES)}")
            self.mode = changes["mode"]
        if "latency" in changes:
            if float(changes["latency"]) < 0:
                raise ValueError("latency must be >= 0 seconds")
            self.latency = float(changes["latency"])
        if "seed" in changes:
            self.seed = int(changes["seed"])
            self._rng = random.Random(self.seed)
        if "rewrite_fraction" in changes:
            rf = changes["rewrite_fraction"]
            if rf is not None and not 0.0 <= float(rf) <= 1.0:
                raise ValueError("rewrite_fraction must be null or between 0 and 1")
            self.rewrite_fraction = None if rf is None else float(rf)
        if "judge" in changes:
            if changes["judge"] is not None and changes["judge"] not in JUDGE_KINDS:
                raise ValueError(f"unknown judge {changes['judge']!r}; choose one of {', '.join(JUDGE_KINDS)} or null")
            self.judge = changes["judge"]
        if "script" in changes:
            self._script = deque(self._strings(changes["script"]))
        if "append_script" in changes:
            self._script.extend(self._strings(changes["append_script"]))
        if changes.get("clear_failures"):
            self._failures.clear()
        if "fail" in changes:
            specs = changes["fail"]
            for spec in specs if isinstance(specs, list) else [specs]:
                self._failures.append(self._failure(**spec))
        if changes.get("clear_requests"):
            self._requests.clear()

    @staticmethod
    def _strings(items: Any) -> list[str]:
        if isinstance(items, str) or not all(isinstance(s, str) for s in items):
            raise ValueError("script must be a list of strings")
        return list(items)

    @staticmethod
    def _failure(status: int, count: int | None = 1, retry_after: float | None = None) -> list:
        if not 400 <= int(status) <= 599:
            raise ValueError(f"fail status must be an HTTP error status (400-599), got {status}")
        if count is not None and int(count) < 1:
            raise ValueError("fail count must be >= 1 (or null for every request)")
        return [int(status), None if count is None else int(count), retry_after]

    def _state_locked(self) -> dict[str, Any]:
        return {"mode": self.mode, "latency": self.latency, "seed": self.seed,
                "rewrite_fraction": self.rewrite_fraction, "judge": self.judge, "script_left": len(self._script),
                "failures": [list(f) for f in self._failures], "served": self._served,
                "in_flight": self._in_flight, "max_in_flight": self._max_in_flight,
                "requests": len(self._requests)}

    # Convenience wrappers for tests.
    def set_mode(self, mode: str) -> None:
        self.control(mode=mode)

    def set_latency(self, seconds: float) -> None:
        self.control(latency=seconds)

    def script(self, replies: Iterable[str], append: bool = False) -> None:
        self.control(**{"append_script" if append else "script": list(replies)})

    def fail(self, status: int, count: int | None = 1, retry_after: float | None = None) -> None:
        """The next `count` requests (None: all) answer HTTP `status` (with Retry-After if given)."""
        self.control(fail={"status": status, "count": count, "retry_after": retry_after})

    def reset(self) -> None:
        self.control(reset=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._state_locked()

    # -- request handling -------------------------------------------------------------------
    async def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes,
                      reader: asyncio.StreamReader) -> Reply | None:
        route = path[3:] if path.startswith("/v1/") else path
        if route == "/chat/completions" and method == "POST":
            return await self._chat(headers, body, reader)
        if route == "/models" and method == "GET":
            names = self.models or ["double"]
            return 200, {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "evoforge-double"}
                                                    for n in names]}, {}
        if path == "/_requests" and method == "GET":
            return 200, self.requests, {}
        if path == "/_control" and method in ("GET", "POST"):
            try:
                data = json.loads(body or b"{}") if method == "POST" else {}
                if not isinstance(data, dict):
                    raise ValueError("the control body must be a JSON object")
                return 200, self.control(**data), {}
            except (ValueError, TypeError) as err:
                return 400, _error(400, f"bad control request: {err}"), {}
        return 404, _error(404, f"no route {method} {path}"), {}

    def _decide(self, req: dict[str, Any]) -> tuple[dict[str, Any], float, tuple, random.Random]:
        """Record the request and fix what answers it (at arrival, so order is arrival order)."""
        with self._lock:
            rec = {"messages": req.get("messages"), "model": req.get("model"), "temperature": req.get("temperature"),
                   "max_tokens": req.get("max_tokens"), "seed": req.get("seed"), "t": time.monotonic(), "status": None}
            if self.record:
                self._requests.append(rec)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._failures:
                failure = self._failures[0]
                if failure[1] is not None:
                    failure[1] -= 1
                    if failure[1] <= 0:
                        self._failures.popleft()
                action: tuple = ("fail", failure[0], failure[2])
            elif self.judge is not None and is_judge_request(req["messages"]):
                action = ("judge", self.judge)
            elif self._script:
                action = ("text", self._script.popleft())
            else:
                action = (self.mode,)
            if isinstance(req.get("seed"), int):  # same seed and prompt -> same reply, like a real server
                key = json.dumps([self.seed, req["seed"], req.get("messages")], sort_keys=True).encode()
                rng = random.Random(hashlib.sha256(key).digest())
            else:
                rng = random.Random(self._rng.getrandbits(64))
            return rec, self.latency, action, rng

    async def _chat(self, headers: dict[str, str], body: bytes, reader: asyncio.StreamReader) -> Reply | None:
        try:
            req = json.loads(body)
        except ValueError:
            return 400, _error(400, "the request body is not JSON"), {}
        messages = req.get("messages") if isinstance(req, dict) else None
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return 400, _error(400, "'messages' must be a non-empty list of objects"), {}
        rec, latency, action, rng = self._decide(req)
        try:
            reply = await self._answer(req, headers, latency, action, rng, reader)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._served += 1
        rec["status"] = None if reply is None else reply[0]
        return reply

    async def _answer(self, req: dict[str, Any], headers: dict[str, str], latency: float, action: tuple,
                      rng: random.Random, reader: asyncio.StreamReader) -> Reply | None:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error(401, "Incorrect API key provided.", "authentication_error"), {}
        model = req.get("model")
        if self.models and model not in self.models:
            return 404, _error(404, f"The model `{model}` does not exist.", "model_not_found"), {}
        if req.get("stream"):
            return 400, _error(400, "the test double does not implement streaming"), {}
        if latency:
            await asyncio.sleep(latency)
        kind = action[0]
        if kind == "fail":
            extra = {} if action[2] is None else {"Retry-After": f"{action[2]:g}"}
            return action[1], _error(action[1], f"injected HTTP {action[1]} from the test double", "server_error"), extra
        if kind == "hang":
            await wait_for_disconnect(reader)
            return None
        if kind == "script":
            return 410, _error(410, "the test double's script is exhausted (mode 'script')"), {}
        if kind == "judge":
            text = judge_answer(action[1], req["messages"])
        else:
            text = action[1] if kind == "text" else self._generate(kind, req["messages"], rng)
        prompt_tokens = sum(_tokens(str(m.get("content") or "")) for m in req["messages"])
        completion_tokens = _tokens(text)
        self_id = f"chatcmpl-double-{rng.getrandbits(48):012x}"
        return 200, {
            "id": self_id, "object": "chat.completion", "created": int(time.time()), "model": model or "double",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }, {}

    def _generate(self, mode: str, messages: list[dict[str, Any]], rng: random.Random) -> str:
        if mode == "echo":
            users = [m for m in messages if m.get("role") == "user"]
            return str((users or messages)[-1].get("content") or "")
        if mode == "garbage":
            return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 60))) + "."
        found = find_program(messages)
        if found is None:
            return "I see no program with an EVOLVE-BLOCK-START marker in your message."
        code, lang = found
        rf = self.rewrite_fraction
        rewrite = (not asks_for_diff(messages)) if rf is None else rng.random() < rf
        return propose(code, rng, rewrite=rewrite, lang=lang or "python")

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def open(self) -> None:
        """Start serving on the running loop (for callers that own an event loop)."""
        self._server = JSONServer(self._handle, self.host, self.port)
        await self._server.open()
        self.port = self._server.port

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.close()

    def start(self) -> "LLMDouble":
        """Serve from a background thread with its own event loop; returns self."""
        ready, failure = threading.Event(), []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.open())
            except BaseException as err:  # e.g. port in use: report it to start()
                failure.append(err)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=main, name="llm-double", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"the LLM test double could not listen on {self.host}:{self.port}: {failure[0]}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "LLMDouble":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    from .llm_double_cli import main

    raise SystemExit(main())
