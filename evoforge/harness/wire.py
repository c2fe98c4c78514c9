"""Wire format between evoforge processes: length-prefixed JSON frames.

JSON, never pickle: the trusted side must be able to read what the candidate
sends without executing anything.  Values that plain JSON cannot carry are
tagged:

* numpy arrays    -> {"__ndarray__": nested lists, "dtype": "float64"}
* complex numbers -> {"__complex__": [re, im]}  (so a scorer can reject them)
* dicts with non-string keys (or keys that look like tags) -> {"__dict__": [[k, v], ...]}

NaN and infinities pass through (Python's JSON extension) so validators see
them.  Tuples become lists.  Anything else is refused with `WireError`.

This module is imported by the candidate process too, so it depends on the
standard library only; numpy is imported lazily when an array is decoded.
"""
from __future__ import annotations

import json
import math
import os
import struct
import sys
from typing import Any

MAX_FRAME = 256 * 1024 * 1024  # a frame larger than this is a protocol violation
_HEADER = struct.Struct(">I")
_TAGS = ("__ndarray__", "__complex__", "__dict__")
_ARRAY_KINDS = "biufcU"  # bool, ints, floats, complex, unicode


class WireError(ValueError):
    """Data that cannot cross the wire, or a malformed frame."""


class ConnectionLost(EOFError):
    """The other side closed its end (or died) before a whole frame arrived."""


# -- encoding ------------------------------------------------------------------
def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def encode(obj: Any) -> Any:
    """Turn `obj` into JSON-able data with tags; raise WireError for anything else."""
    try:
        return _enc(obj)
    except RecursionError:
        raise WireError("data is nested too deeply") from None


def _enc(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)  # also numpy ints that subclass int; bools handled above
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, complex):
        return {"__complex__": [obj.real, obj.imag]}
    if isinstance(obj, (list, tuple)):
        return [_enc(v) for v in obj]
    if isinstance(obj, dict):
        if all(type(k) is str and k not in _TAGS for k in obj):
            return {k: _enc(v) for k, v in obj.items()}
        return {"__dict__": [[_enc_key(k), _enc(v)] for k, v in obj.items()]}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in _ARRAY_KINDS:
                raise WireError(f"returned non-plain data of type numpy.ndarray with dtype {obj.dtype}")
            return {"__ndarray__": _enc(obj.tolist()), "dtype": obj.dtype.str if obj.dtype.kind == "U" else obj.dtype.name}
        if isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS:
            return _enc(obj.item())
    raise WireError(f"returned non-plain data of type {_type_name(obj)}")


def _enc_key(k: Any) -> Any:
    if k is None or isinstance(k, (bool, int, float, str, complex, tuple)):
        return _enc(k)
    raise WireError(f"returned a dict with a key of non-plain type {_type_name(k)}")


# -- decoding ------------------------------------------------------------------
def decode(obj: Any) -> Any:
    """Inverse of `encode`: tags become numpy arrays, complex numbers and dicts."""
    try:
        return _dec(obj)
    except RecursionError:
        raise WireError("data is nested too deeply") from None
    except WireError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as err:
        raise WireError(f"malformed data: {err}") from None


def _dec(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_dec(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__complex__" in obj and len(obj) == 1:
        re, im = obj["__complex__"]
        return complex(float(re), float(im))
    if "__ndarray__" in obj and len(obj) == 2 and isinstance(obj.get("dtype"), str):
        import numpy as np

        try:
            dtype = np.dtype(obj["dtype"])
        except TypeError:
            raise WireError(f"unknown array dtype {obj['dtype']!r}") from None
        if dtype.kind not in _ARRAY_KINDS:
            raise WireError(f"array dtype {obj['dtype']!r} is not allowed")
        return np.array(_dec(obj["__ndarray__"]), dtype=dtype)
    if "__dict__" in obj and len(obj) == 1:
        out = {}
        for pair in obj["__dict__"]:
            k, v = pair
            k = _dec(k)
            out[tuple(_freeze(x) for x in k) if isinstance(k, list) else k] = _dec(v)
        return out
    return {k: _dec(v) for k, v in obj.items()}


def _freeze(x: Any) -> Any:
    return tuple(_freeze(v) for v in x) if isinstance(x, list) else x


def dumps(obj: Any) -> bytes:
    """Encode and serialise; NaN/inf are written as JSON extensions."""
    return json.dumps(encode(obj), allow_nan=True, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WireError(f"malformed frame: {err}") from None
    except RecursionError:
        raise WireError("data is nested too deeply") from None
    return decode(raw)


# -- framing ---------------------------------------------------------------------
def send(fd: int, obj: Any) -> None:
    """Write one frame; raise ConnectionLost if the reader is gone."""
    body = dumps(obj)
    if len(body) > MAX_FRAME:
        raise WireError(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte frame limit")
    _write_all(fd, _HEADER.pack(len(body)) + body)


def send_raw(fd: int, body: bytes) -> None:
    _write_all(fd, _HEADER.pack(len(body)) + body)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except (BrokenPipeError, ConnectionResetError):
        raise ConnectionLost("the other side closed the connection") from None


def recv(fd: int, max_frame: int = MAX_FRAME) -> Any:
    """Read one frame and decode it."""
    return loads(recv_raw(fd, max_frame))


def recv_raw(fd: int, max_frame: int = MAX_FRAME) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    if size > max_frame:
        raise WireError(f"frame of {size} bytes exceeds the {max_frame}-byte limit")
    return _read_exact(fd, size)


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise ConnectionLost("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
