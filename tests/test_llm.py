"""The LLM stage against a real HTTP server on 127.0.0.1 (the test double)."""
from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import random
import socket
import threading

import pytest

from evoforge import llm
from evoforge.config import LLMConfig, ModelConfig
from evoforge.llm import EndpointUnavailable, Ensemble, LLMError
from evoforge.testing.llm_double import LLMDouble

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hi"}]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(llm, "BACKOFF_S", 0.01)


def ensemble(*models, retries=3, **kw):
    return Ensemble.from_config(LLMConfig(models=[ModelConfig(**m) for m in models], max_retries=retries, **kw))


def ask(ens, seed=0):
    return asyncio.run(ens.complete(MESSAGES, random.Random(seed)))


def test_completion_text_tokens_and_cost(llm_double):
    llm_double.script(["hello there"])
    ens = ensemble({"name": "m1", "api_base": llm_double.base_url, "price_in_per_mtok": 1e6,
                    "price_out_per_mtok": 2e6, "temperature": 0.3, "max_tokens": 77})
    out = ask(ens)
    assert out.text == "hello there" and out.model == "m1" and out.completion_tokens == 3
    req = llm_double.requests[-1]
    assert req["model"] == "m1" and req["temperature"] == 0.3 and req["max_tokens"] == 77
    assert req["messages"] == MESSAGES
    u = ens.usage()["m1"]
    assert u["calls"] == 1 and u["cost"] == pytest.approx(out.prompt_tokens + 2 * out.completion_tokens)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried(llm_double, status):
    llm_double.fail(status, count=2)
    llm_double.script(["ok"])
    assert ask(ensemble({"name": "m", "api_base": llm_double.base_url})).text == "ok"
    assert len(llm_double.requests) == 3


def test_retry_after_is_honoured_and_retries_end(llm_double):
    llm_double.fail(429, count=None, retry_after=0.2)
    ens = ensemble({"name": "m", "api_base": llm_double.base_url}, retries=2)
    with pytest.raises(LLMError, match="3 attempts") as info:
        ask(ens)
    assert not isinstance(info.value, EndpointUnavailable)
    times = [r["t"] for r in llm_double.requests]
    assert len(times) == 3 and times[1] - times[0] >= 0.09  # 0.2 s x jitter in [0.5, 1.5)
    assert ens.usage()["m"]["errors"] == 1


def test_bad_key_and_unknown_model_make_the_endpoint_unavailable():
    with LLMDouble(api_key="right", models=["known"]) as d:
        with pytest.raises(EndpointUnavailable, match="rejected"):
            ask(ensemble({"name": "known", "api_base": d.base_url, "api_key": "wrong"}))
        with pytest.raises(EndpointUnavailable, match="rejected"):
            ask(ensemble({"name": "other", "api_base": d.base_url, "api_key": "right"}))
        assert ask(ensemble({"name": "known", "api_base": d.base_url, "api_key": "right"})).text


def test_unreachable_endpoint_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(EndpointUnavailable, match="cannot reach"):
        ask(ensemble({"name": "m", "api_base": f"http://127.0.0.1:{port}/v1"}, retries=1))


def test_request_errors_and_empty_replies_fail_one_request(llm_double):
    llm_double.fail(400)
    with pytest.raises(LLMError, match="HTTP 400"):
        ask(ensemble({"name": "m", "api_base": llm_double.base_url}))
    llm_double.script([""])
    with pytest.raises(LLMError, match="no text"):  # (a new client: each asyncio.run has its own loop)
        ask(ensemble({"name": "m", "api_base": llm_double.base_url}))


def test_timeout_of_a_hanging_server_is_an_error(llm_double):
    llm_double.set_mode("hang")
    ens = ensemble({"name": "m", "api_base": llm_double.base_url, "timeout_s": 0.3}, retries=1)
    with pytest.raises(LLMError, match="Timeout"):
        ask(ens)


def test_environment_variables_are_honoured(llm_double, monkeypatch):
    d = LLMDouble(api_key="sk-env").start()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", d.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        d.script(["from env"])
        assert ask(ensemble({"name": "m"})).text == "from env"
    finally:
        d.stop()


def test_weights_choose_models_in_proportion(llm_double):
    ens = ensemble({"name": "fast", "api_base": llm_double.base_url, "weight": 9},
                   {"name": "strong", "api_base": llm_double.base_url, "weight": 1})
    rng = random.Random(3)
    picks = [ens.choose(rng).config.name for _ in range(2000)]
    assert 0.85 < picks.count("fast") / 2000 < 0.95
    again = random.Random(3)
    assert [ens.choose(again).config.name for _ in range(2000)] == picks  # same rng, same choices


def test_requests_run_concurrently(llm_double):
    llm_double.set_latency(0.3)
    ens = ensemble({"name": "m", "api_base": llm_double.base_url})

    async def many():
        return await asyncio.gather(*(ens.complete(MESSAGES, random.Random(i)) for i in range(8)))

    assert len(asyncio.run(many())) == 8
    assert llm_double.stats["max_in_flight"] == 8



@contextlib.contextmanager
def serving(content_type: str, body: bytes):
    """A real HTTP server on 127.0.0.1 that answers every POST with status 200 and `body`."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", b"upstream proxy error"),                                   # not JSON at all
    ("application/json", b'[1, 2]'),                                           # JSON, not an object
    ("application/json", b'{"choices": "none"}'),                              # wrong shapes
    ("application/json", b'{"choices": [{"message": null}]}'),
    ("application/json", b'{"choices": [{"message": {"content": 7}}], "usage": "x"}'),
])
def test_malformed_completion_bodies_fail_one_request(content_type, body):
    """A server that answers 200 with something that is not a chat completion: an LLMError for
    this request (the iteration is recorded as failed), never a crash of the run."""
    with serving(content_type, body) as base:
        ens = ensemble({"name": "m", "api_base": base}, retries=0)
        with pytest.raises(LLMError) as info:
            ask(ens)
        assert not isinstance(info.value, EndpointUnavailable)
        assert ens.usage()["m"]["errors"] == 1


def test_usage_missing_from_the_reply_is_estimated():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "x" * 40}}]}).encode()
    with serving("application/json", body) as base:
        out = ask(ensemble({"name": "m", "api_base": base}))
    assert out.text == "x" * 40 and out.completion_tokens == 10 and out.prompt_tokens > 0
