"""Asking language models: any OpenAI-compatible endpoint, or the local model.

`Ensemble.complete(messages, rng)` picks a model by weight (with the
iteration's own random generator, so resume repeats the choice), sends the chat
request and returns a `Completion`.  Transient failures (429, 5xx, timeouts,
dropped connections) are retried with exponential backoff and jitter, honouring
``Retry-After``.  An endpoint that cannot be reached at all, or that rejects our
key or model, raises `EndpointUnavailable` (the run stops with that message);
anything else that goes wrong with one request raises `LLMError` (the iteration
is recorded as failed and the run goes on).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import LLMConfig, ModelConfig

log = logging.getLogger("evoforge.llm")

BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


class LLMError(RuntimeError):
    """One request failed for good (after retries)."""


class EndpointUnavailable(LLMError):
    """The endpoint cannot serve us at all: unreachable, bad key, unknown model."""


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class Backend(Protocol):
    name: str

    async def complete(self, messages: list[dict], *, temperature: float, max_tokens: int) -> Completion: ...


def _retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    value = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIBackend:
    """Chat completions over HTTP with the official `openai` client (its own retries off)."""

    def __init__(self, m: ModelConfig, max_retries: int):
        import openai

        self._openai = openai
        self.name, self.config, self.max_retries = m.name, m, max_retries
        base = m.api_base or os.environ.get("OPENAI_BASE_URL")
        key = m.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.base = base
        self.client = openai.AsyncOpenAI(base_url=base, api_key=key, timeout=m.timeout_s, max_retries=0)

    async def complete(self, messages: list[dict], *, temperature: float, max_tokens: int) -> Completion:
        oa = self._openai
        attempt = 0
        while True:
            t0 = time.monotonic()
            try:
                # The client's generic POST: same request, retries and errors as chat.completions.create,
                # without its per-call transformation of typed params (about 1.4 ms CPU per call here);
                # cast_to=object returns the decoded JSON instead of building typed models (~1.6 ms).
                resp = await self.client.post("/chat/completions", cast_to=object, body={
                    "model": self.name, "messages": messages, "temperature": temperature, "max_tokens": max_tokens})
                return self._completion(resp, time.monotonic() - t0, messages)
            except (oa.AuthenticationError, oa.PermissionDeniedError, oa.NotFoundError) as err:
                raise EndpointUnavailable(f"{self.base}: model '{self.name}' rejected the request "
                                          f"({type(err).__name__}: {_short(err)})") from None
            except (oa.RateLimitError, oa.InternalServerError, oa.APITimeoutError, oa.APIConnectionError) as err:
                if attempt >= self.max_retries:
                    if isinstance(err, oa.APIConnectionError) and not isinstance(err, oa.APITimeoutError):
                        raise EndpointUnavailable(f"cannot reach the LLM endpoint {self.base} for model "
                                                  f"'{self.name}' after {attempt + 1} attempts: {_short(err)}") from None
                    raise LLMError(f"{self.name}: {type(err).__name__} after {attempt + 1} attempts: "
                                   f"{_short(err)}") from None
                delay = _retry_after(err) or min(MAX_BACKOFF_S, BACKOFF_S * 2 ** attempt)
                delay *= 0.5 + random.random()  # jitter: parallel workers do not retry in lockstep
                log.warning("%s: %s, retrying in %.1f s", self.name, type(err).__name__, delay)
                attempt += 1
                await asyncio.sleep(delay)
            except oa.APIStatusError as err:  # 400 (e.g. context too long), 409, 422 ...: this request only
                raise LLMError(f"{self.name}: HTTP {err.status_code}: {_short(err)}") from None
            except oa.OpenAIError as err:  # unparseable responses and the like
                raise LLMError(f"{self.name}: {type(err).__name__}: {_short(err)}") from None

    def _completion(self, resp: Any, latency: float, messages: list[dict]) -> Completion:
        if not isinstance(resp, dict):  # a non-JSON body arrives as text
            raise LLMError(f"{self.name}: the reply was not a chat completion: {_short(RuntimeError(resp), 120)}")
        choices = resp.get("choices")
        first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = first.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"{self.name}: the reply had no text")
        usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
        pt = usage.get("prompt_tokens")
        ct = usage.get("completion_tokens")
        if not isinstance(pt, int):  # servers that omit usage: a rough estimate keeps budgets working
            pt = sum(len(str(m.get("content", ""))) for m in messages) // 4
        if not isinstance(ct, int):
            ct = len(text) // 4
        return Completion(text=text, model=self.name, prompt_tokens=pt, completion_tokens=ct, latency_s=latency)


def _short(err: Exception, limit: int = 300) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def make_backend(m: ModelConfig, max_retries: int) -> Backend:
    if m.name == "local" or m.name.startswith("local:"):
        from .local_model import LocalBackend

        return LocalBackend(m)
    return OpenAIBackend(m, max_retries)


@dataclass
class _Usage:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost: float = 0.0


@dataclass
class Member:
    config: ModelConfig
    backend: Backend
    usage: _Usage = field(default_factory=_Usage)


class Ensemble:
    """Several models with prior weights; one is drawn per request."""

    def __init__(self, members: list[Member]):
        if not members:
            raise ValueError("an ensemble needs at least one model")
        self.members = members

    @classmethod
    def from_config(cls, config: LLMConfig) -> "Ensemble":
        return cls([Member(m, make_backend(m, config.max_retries)) for m in config.models])

    def choose(self, rng: random.Random) -> Member:
        return rng.choices(self.members, weights=[m.config.weight for m in self.members], k=1)[0]

    async def complete(self, messages: list[dict], rng: random.Random, member: Member | None = None) -> Completion:
        member = member or self.choose(rng)
        c, u = member.config, member.usage
        u.calls += 1
        try:
            kw = {"seed": rng.getrandbits(31)} if getattr(member.backend, "takes_seed", False) else {}
            out = await member.backend.complete(messages, temperature=c.temperature, max_tokens=c.max_tokens, **kw)
        except LLMError:
            u.errors += 1
            raise
        u.prompt_tokens += out.prompt_tokens
        u.completion_tokens += out.completion_tokens
        u.latency_s += out.latency_s
        u.cost += (out.prompt_tokens * c.price_in_per_mtok + out.completion_tokens * c.price_out_per_mtok) / 1e6
        out.model = c.name
        return out

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per model name: calls, errors, tokens, latency and cost in this process."""
        out: dict[str, dict[str, Any]] = {}
        for m in self.members:
            agg = out.setdefault(m.config.name, {k: 0 for k in _Usage.__dataclass_fields__})
            for k, v in vars(m.usage).items():
                agg[k] += v
        return out
