"""The dashboard's HTTP server: a JSON API over the run database plus the static page.

Standard library only (``ThreadingHTTPServer``).  It binds to loopback unless the
caller explicitly allows remote access, rejects requests whose ``Host`` header is
not loopback (so a web page elsewhere cannot reach it by DNS rebinding), serves
GET only, and sends a Content-Security-Policy that forbids loading anything from
another origin — the page is complete without the internet.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import logging
import math
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .data import NotFound, RunData, RunDataError

log = logging.getLogger("evoforge.ui")

STATIC_DIR = Path(__file__).with_name("static")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
_CSP = ("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BadRequest(ValueError):
    pass


def _int(q: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name, [None])[0]
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    return min(hi, max(lo, value))


def _str(q: dict[str, list[str]], name: str) -> str | None:
    raw = q.get(name, [None])[0]
    return raw if raw not in (None, "") else None


def _clean(obj: Any) -> Any:
    """JSON has no NaN/inf: send them as null rather than invalid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _routes(data: RunData) -> dict[str, Callable[[dict[str, list[str]]], Any]]:
    return {
        "summary": lambda q: data.summary(),
        "series": lambda q: data.series(points=_int(q, "points", 600, 10, 5000)),
        "failures": lambda q: data.failures(),
        "models": lambda q: data.models(),
        "programs": lambda q: data.programs(
            offset=_int(q, "offset", 0, 0, 10**9), limit=_int(q, "limit", 50, 1, 500),
            sort=_str(q, "sort") or "score", status=_str(q, "status") or "all",
            island=_int(q, "island", -1, -1, 10**6), model=_str(q, "model"), kind=_str(q, "kind")),
        "lineage": lambda q: data.lineage(top=_int(q, "top", 30, 1, 1000), max_nodes=_int(q, "max_nodes", 1500, 10, 5000)),
        "archive": lambda q: data.archive(),
        "pareto": lambda q: data.pareto(),
        "config": lambda q: data.config(),
        "log": lambda q: data.log_tail(_int(q, "lines", 200, 1, 5000)),
    }


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True  # a browser keeping a connection open must not block shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], data: RunData, allow_remote: bool):
        self.data = data
        self.allow_remote = allow_remote
        self.routes = _routes(data)
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # stderr would interleave with the CLI
        log.debug("%s " + fmt, self.address_string(), *args)

    def _host_ok(self) -> bool:
        if self.server.allow_remote:
            return True
        host = (self.headers.get("Host") or "").strip()
        if host.startswith("["):
            name = host[: host.find("]") + 1]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return is_loopback(name)

    def _send(self, status: int, body: bytes, ctype: str, cache: str = "no-store") -> None:
        if len(body) > 8192 and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, compresslevel=5)
            encoded = True
        else:
            encoded = False
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if encoded:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(_clean(obj), separators=(",", ":"), default=str).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "requests must use a loopback host name"})
        url = urlsplit(self.path)
        path = url.path
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path.startswith("/api/"):
            return self._api(path[len("/api/"):], parse_qs(url.query))
        self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    do_HEAD = do_GET

    def _other(self) -> None:
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "the dashboard is read-only"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _other

    def _static(self, name: str) -> None:
        # Only files that exist directly in static/: no path can climb out of it.
        files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        target = files.get(name)
        if target is None or target.suffix not in _TYPES:
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such file: {name}"})
        self._send(HTTPStatus.OK, target.read_bytes(), _TYPES[target.suffix], cache="no-cache")

    def _api(self, name: str, query: dict[str, list[str]]) -> None:
        try:
            if name.startswith("program/"):
                pid = name[len("program/"):]
                if not pid.isdigit():
                    raise BadRequest(f"program id must be an integer, got {pid!r}")
                result = self.server.data.program(int(pid), with_diff=query.get("diff", ["1"])[0] != "0")
            elif name in self.server.routes:
                result = self.server.routes[name](query)
            else:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such API: /api/{name}"})
        except (BadRequest, ValueError) as err:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except NotFound as err:
            return self._json(HTTPStatus.NOT_FOUND, {"error": str(err)})
        except RunDataError as err:
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(err)})
        except Exception as err:  # keep serving; the page shows the message
            log.exception("dashboard API /api/%s failed", name)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(err).__name__}: {err}"})
        self._json(HTTPStatus.OK, result)


def make_server(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8050,
                allow_remote: bool = False) -> DashboardServer:
    """Bind the dashboard (not yet serving).  ``port=0`` picks a free port; see ``.url``.

    Raises ValueError for a non-loopback host without ``allow_remote=True`` and for a
    directory that is not a run; OSError if the port is taken.
    """
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"refusing to listen on {host!r}: the dashboard shows prompts and code, so it binds to "
                         "loopback only; pass allow_remote=True (evoforge ui --host) to expose it")
    data = RunData(run_dir)
    family_host = host.strip("[]")
    server_cls = DashboardServer
    if ":" in family_host:  # IPv6 literal
        import socket

        server_cls = type("DashboardServer6", (DashboardServer,), {"address_family": socket.AF_INET6})
    return server_cls((family_host, port), data, allow_remote)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, allow_remote: bool = False) -> None:
    """Serve the dashboard for ``run_dir`` until interrupted (Ctrl-C returns normally)."""
    server = make_server(run_dir, host=host, port=port, allow_remote=allow_remote)
    print(f"evoforge dashboard for {server.data.run_dir} at {server.url}  (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.data.close()
