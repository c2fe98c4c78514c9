"""Novelty rejection: is a candidate a near-duplicate of a program already on its island?

Checked after the edit is applied and before the (expensive) evaluation.  Code is
normalised first: comments and layout are dropped (for Python with the
``tokenize`` module, for C-like languages by pattern), so a change that only
touches comments or whitespace is an exact duplicate.  Then, by
``novelty.method``:

- ``code`` (default, cheap): Jaccard similarity of the sets of 4-token shingles;
- ``embedding``: cosine similarity of sentence embeddings (`evoforge.embeddings`,
  all-MiniLM-L6-v2 in numpy, offline).

A candidate whose similarity to any island member (or to its parent) is at or
above the threshold is rejected; the engine records the rejection as a proposal
(outcome ``novelty_rejected``) and asks the LLM again, a bounded number of times.
"""
from __future__ import annotations

import io
import re
import threading
import tokenize
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable

from .config import NoveltyConfig

SHINGLE = 4
_TOKEN = re.compile(r"\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\w+|[^\w\s]")
_C_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_C_LIKE = {"c", "cpp", "c++", "cuda", "java", "javascript", "js", "typescript", "ts", "rust", "go", "swift",
           "kotlin", "scala", "csharp", "c#"}


@dataclass(frozen=True)
class Rejection:
    similar_to: int      # program id of the closest island member
    similarity: float
    method: str

    def message(self) -> str:
        return f"{self.method} similarity {self.similarity:.4f} to program {self.similar_to}"


def _strip_python_comments(code: str) -> str:
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(toks)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.sub(r"(?m)^\s*#[^\n]*$", "", code)  # unparseable: at least whole-line comments


def normalise(code: str, language: str = "python") -> str:
    """Code without comments, one space between tokens (text artefacts: whitespace collapsed only)."""
    lang = (language or "").lower()
    if lang in ("python", "py"):
        code = _strip_python_comments(code)
    elif lang in _C_LIKE:
        code = _C_COMMENTS.sub(" ", code)
    if lang in ("text", "markdown", "md", ""):
        return " ".join(code.split())
    return " ".join(_TOKEN.findall(code))


def shingles(normalised: str, k: int = SHINGLE) -> frozenset[int]:
    toks = normalised.split(" ") if normalised else []
    if len(toks) < k:
        return frozenset([hash(tuple(toks))])
    return frozenset(hash(tuple(toks[i:i + k])) for i in range(len(toks) - k + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class NoveltyFilter:
    """`check(code, ids, code_of)` -> `Rejection` or None.  Representations of stored programs are cached."""

    def __init__(self, config: NoveltyConfig, language: str, encoder_factory: Callable | None = None):
        self.config, self.language = config, language
        self.method = config.method
        self.threshold = config.code_threshold if self.method == "code" else config.embedding_threshold
        self._cache = _LRU(4096)
        self._lock = threading.Lock()
        self._encoder = None
        self._encoder_factory = encoder_factory

    def encoder(self):
        """The embedding model (loaded on first use; raises EmbeddingUnavailable when not installed)."""
        if self._encoder is None:
            if self._encoder_factory is not None:
                self._encoder = self._encoder_factory()
            else:
                from .embeddings import shared_encoder_process  # in a child process: see EncoderProcess

                self._encoder = shared_encoder_process(self.config.embedding_model)
        return self._encoder

    def represent(self, code: str):
        norm = normalise(code, self.language)
        if self.method == "code":
            return norm, shingles(norm)
        return norm, self.encoder().encode_one(norm)

    def _stored(self, pid: int, code_of: Callable[[int], str]):
        with self._lock:
            rep = self._cache.get(pid)
        if rep is None:
            rep = self.represent(code_of(pid))
            with self._lock:
                self._cache.put(pid, rep)
        return rep

    def similarity(self, a, b) -> float:
        if a[0] == b[0]:
            return 1.0
        if self.method == "code":
            return jaccard(a[1], b[1])
        return float((a[1] * b[1]).sum())  # not np.dot: no BLAS call in the engine's process

    def check(self, code: str, ids: Iterable[int], code_of: Callable[[int], str]) -> Rejection | None:
        """The closest of `ids` if it is at least `threshold` similar to `code`, else None.
        Blocking (the embedding method does real work): call it from a thread."""
        cand = self.represent(code)
        best: tuple[float, int] | None = None
        for pid in dict.fromkeys(ids):
            sim = self.similarity(cand, self._stored(pid, code_of))
            if best is None or sim > best[0]:
                best = (sim, pid)
        if best is not None and best[0] >= self.threshold:
            return Rejection(similar_to=best[1], similarity=best[0], method=self.method)
        return None
