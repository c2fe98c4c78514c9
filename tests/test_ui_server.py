"""The dashboard server over real HTTP, against real run databases.

The server is the real `evoforge ui` command in a subprocess; the run is made by the
real CLI (tests/ui_helpers.py).  Nothing here asserts timings (bench/ui_scale.py does).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import evoforge_cli
from ui_helpers import LARGE_N, UIProcess, seed_large, shared_large_run, shared_real_run, wait_for


def get(base: str, path: str, **headers) -> tuple[int, dict | bytes, dict]:
    req = urllib.request.Request(base.rstrip("/") + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, body, hdrs = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        status, body, hdrs = err.code, err.read(), dict(err.headers)
    if hdrs.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(body), hdrs
    return status, body, hdrs


def api(base: str, path: str) -> dict:
    status, body, _ = get(base, "/api/" + path)
    assert status == 200, (path, body)
    return body


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    return shared_real_run(tmp_path_factory)


@pytest.fixture(scope="module")
def ui(real_run):
    with UIProcess(real_run) as proc:
        yield proc


def test_listens_on_loopback_only(ui):
    assert ui.info["host"] == "127.0.0.1" and ui.url.startswith("http://127.0.0.1:")
    port = ui.info["port"]
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).exists():
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"]  # 127.0.0.1 only: not 0.0.0.0, not an IPv6 address
    # A page on another origin reaching 127.0.0.1 by DNS rebinding sends a foreign Host header.
    status, body, _ = get(ui.url, "/api/summary", Host="evil.example:80")
    assert status == 403 and "loopback" in body["error"]
    assert get(ui.url, "/api/summary", Host=f"localhost:{port}")[0] == 200


def test_refuses_other_interfaces_unless_asked(real_run):
    from evoforge.ui.server import make_server

    with pytest.raises(ValueError, match="loopback"):
        make_server(real_run, host="0.0.0.0", port=0)


def test_summary_matches_status(ui, real_run):
    s = api(ui.url, "summary")
    st = json.loads(evoforge_cli("status", str(real_run), "--json", check=True).stdout)
    assert s["n_programs"] == st["n_programs"] and s["n_valid"] == st["n_valid"]
    assert s["n_proposals"] == st["n_proposals"] == 24 and s["last_iteration"] == 24
    assert s["best"]["id"] == st["best"]["id"] and s["best"]["score"] == st["best"]["score"]
    assert s["objective"] == {"name": "combined_score", "direction": "maximize"}
    assert s["islands"] == [0, 1, 2, 3] and s["problem_name"] == "tiny" and s["pareto"] is False
    tokens = sum(m["prompt_tokens"] + m["completion_tokens"] for m in st["models"].values())
    assert s["tokens"] == tokens and s["cost"] > 0  # m1 has prices in the run config


def test_series_failures_models(ui):
    series = api(ui.url, "series")
    overall = series["overall"]
    assert overall[0][0] == 0 and all(b[1] > a[1] for a, b in zip(overall, overall[1:]))  # strictly improving
    assert set(series["islands"]) == {"0", "1", "2", "3"} and set(series["models"]) <= {"m1", "m2"}
    best = api(ui.url, "summary")["best"]
    assert overall[-1][1] == best["score"] and overall[-1][2] == best["id"]
    assert all(lo <= hi and mn <= mx for lo, hi, mn, mx, n in series["band"])
    fail = api(ui.url, "failures")
    assert fail["by_source"]["edit"] == {"no_edit": 1}
    assert sum(fail["by_source"]["evaluation"].values()) == 2 and fail["total"] == 3
    models = {m["name"]: m for m in api(ui.url, "models")["models"]}
    assert set(models) == {"m1", "m2"} and sum(m["calls"] for m in models.values()) == 24
    assert models["m1"]["cost"] > 0 and models["m2"]["cost"] is None  # m2 has no price


def test_programs_are_paginated_and_filtered(ui):
    s = api(ui.url, "summary")
    page = api(ui.url, "programs?limit=10")
    assert page["total"] == s["n_programs"] and len(page["rows"]) == 10 and page["rows"][0]["id"] == s["best"]["id"]
    scores = [r["score"] for r in page["rows"]]
    assert scores == sorted(scores, reverse=True)
    rest = api(ui.url, "programs?limit=10&offset=10")
    assert {r["id"] for r in rest["rows"]}.isdisjoint(r["id"] for r in page["rows"])
    failed = api(ui.url, "programs?status=failed")
    assert failed["total"] == s["n_failed"] == 2 and not any(r["valid"] for r in failed["rows"])
    newest = api(ui.url, "programs?sort=-id&limit=3")["rows"]
    assert [r["id"] for r in newest] == sorted((r["id"] for r in newest), reverse=True)
    assert all(r["island"] == 2 for r in api(ui.url, "programs?island=2")["rows"])
    assert all(r["model"] == "m1" for r in api(ui.url, "programs?model=m1")["rows"])
    kind = failed["kinds"][0]
    assert api(ui.url, f"programs?kind={kind}")["total"] >= 1


def test_program_page_has_code_diff_metrics_output_and_prompt(ui):
    best = api(ui.url, "summary")["best"]
    d = api(ui.url, f"program/{best['id']}")
    p = d["program"]
    assert "def f(x)" in p["code"] and p["metrics"]["combined_score"] == best["score"]
    assert d["parent"]["id"] == p["parent_id"] and d["diff"].startswith("--- program")
    assert d["proposal"]["model"] == p["model"] and d["proposal"]["messages"][0]["role"] == "system"
    assert d["proposal"]["reply"] and d["proposal"]["outcome"] == "evaluated"
    failed = api(ui.url, "programs?status=failed")["rows"][0]
    f = api(ui.url, f"program/{failed['id']}")["program"]
    assert f["valid"] is False and (f["error"] or f["failure_kind"])
    seed = api(ui.url, "program/1")
    assert seed["parent"] is None and seed["diff"] is None and seed["proposal"] is None
    assert seed["n_children"] == len(seed["children"]) >= 1
    assert api(ui.url, f"program/{best['id']}?diff=0")["diff"] is None


def test_lineage_archive_pareto_config_log(ui):
    s = api(ui.url, "summary")
    tree = api(ui.url, "lineage")
    assert tree["mode"] == "full" and len(tree["nodes"]) == s["n_programs"] and tree["best_id"] == s["best"]["id"]
    assert sum(not n["valid"] for n in tree["nodes"]) == s["n_failed"]
    ids = {n["id"] for n in tree["nodes"]}
    assert all(n["parent_id"] is None or n["parent_id"] in ids for n in tree["nodes"])
    grid = api(ui.url, "archive")
    assert grid["available"] and grid["dims"] == ["complexity", "score"] and grid["cells"]
    assert sum(c["count"] for c in grid["cells"]) == s["n_valid"]
    assert any(c["id"] == s["best"]["id"] for c in grid["cells"])  # the best is an elite of its cell
    assert api(ui.url, "pareto") == {"available": False, "reason": "This run has a single objective."}
    cfg = api(ui.url, "config")
    assert cfg["config"]["llm"]["models"][0]["name"] == "m1" and cfg["meta"]["isolation"] == s["isolation"]
    assert any("new best" in line for line in api(ui.url, "log?lines=50")["lines"])


def test_page_and_static_files_are_served_locally(ui):
    status, body, hdrs = get(ui.url, "/")
    assert status == 200 and b"<script src=\"/static/app.js\"></script>" in body
    assert "default-src 'self'" in hdrs["Content-Security-Policy"]
    scripts = [s.split('"')[0] for s in body.decode().split('src="')[1:]]
    assert scripts and all(src.startswith("/static/") for src in scripts)  # nothing from another host
    for name in ("app.js", "charts.js", "tree.js", "views.js", "dom.js", "style.css"):
        status, text, _ = get(ui.url, f"/static/{name}")
        assert status == 200 and b"http://" not in text.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in text


@pytest.mark.parametrize("path,status", [
    ("/api/nothing", 404), ("/api/program/99999", 404), ("/api/program/abc", 400), ("/api/program/-1", 400),
    ("/api/programs?limit=ten", 400), ("/api/programs?sort=name", 400), ("/api/programs?status=odd", 400),
    ("/api/series?points=x", 400), ("/static/../evoforge.db", 404), ("/static/nope.js", 404), ("/elsewhere", 404),
])
def test_bad_requests_get_clean_json_errors(ui, path, status):
    got, body, _ = get(ui.url, path)
    assert got == status and isinstance(body, dict) and body["error"]


def test_writes_are_refused(ui):
    host, port = ui.url.split("//")[1].rstrip("/").split(":")
    for method in ("POST", "PUT", "DELETE"):
        con = http.client.HTTPConnection(host, int(port), timeout=10)
        con.request(method, "/api/summary", body=b"{}")
        resp = con.getresponse()
        assert resp.status == 405 and "read-only" in json.loads(resp.read())["error"]
        con.close()


def test_server_never_writes_the_database(real_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    db = run / "evoforge.db"
    before, mtime = sha(db), db.stat().st_mtime_ns
    with UIProcess(run) as ui:
        s = api(ui.url, "summary")
        for path in ("series", "failures", "models", "programs?limit=500", "lineage", "archive", "pareto", "config",
                     "log", f"program/{s['best']['id']}", "program/1"):
            api(ui.url, path)
    assert sha(db) == before and db.stat().st_mtime_ns == mtime
    wal = run / "evoforge.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # no transaction was ever written
    # The connections the dashboard opens cannot write even if asked to.
    from evoforge.ui.db import RunIndex

    with RunIndex(db).connect() as con:
        with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
            con.execute("DELETE FROM programs")


def test_live_update_while_a_run_writes(real_run, tmp_path):
    """`evoforge resume` writes in another process; the dashboard sees every commit."""
    from evoforge.testing.llm_double import LLMDouble

    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    with UIProcess(run) as ui, LLMDouble(seed=2, latency=0.15) as double:
        start = api(ui.url, "summary")
        writer = subprocess.Popen([sys.executable, "-m", "evoforge", "resume", str(run), "--api-base", double.base_url,
                                   "--iterations", "12", "--no-progress"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = set()
        try:
            while writer.poll() is None:
                seen.add(api(ui.url, "summary")["n_proposals"])
                time.sleep(0.3)
        finally:
            _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        mid = {n for n in seen if start["n_proposals"] < n < start["n_proposals"] + 12}
        assert mid, f"the dashboard never saw the run in progress: {sorted(seen)}"
        end = wait_for(lambda: (lambda s: s if s["n_proposals"] == 36 else None)(api(ui.url, "summary")), timeout=10)
        assert end and end["last_iteration"] == 36 and end["version"] != start["version"]
        newest = api(ui.url, "programs?sort=-id&limit=1")["rows"][0]
        assert newest["id"] > start["version"][0] and "def f" in api(ui.url, f"program/{newest['id']}")["program"]["code"]
        assert api(ui.url, "lineage")["total"] == end["n_programs"]


def test_large_run_payloads_are_bounded(tmp_path_factory):
    run = shared_large_run(tmp_path_factory)
    with UIProcess(run) as ui:
        s = api(ui.url, "summary")
        assert s["n_programs"] == LARGE_N and s["pareto"] is True
        sizes = {}
        for path in ("summary", "series?points=600", "failures", "models", "programs?limit=500", "lineage",
                     "lineage?top=1000&max_nodes=100000", "archive", "pareto", "config", f"program/{s['best']['id']}"):
            status, body, _ = get(ui.url, "/api/" + path)
            assert status == 200, (path, body)
            sizes[path] = len(json.dumps(body))
        assert max(sizes.values()) < 2_000_000, sizes
        series = api(ui.url, "series?points=600")
        assert all(len(v) <= 601 for v in [series["overall"], *series["islands"].values(), *series["models"].values()])
        assert len(series["band"]) <= 150
        tree = api(ui.url, "lineage")
        assert tree["mode"] == "top" and tree["total"] == LARGE_N and len(tree["nodes"]) <= 1500
        assert tree["best_id"] in {n["id"] for n in tree["nodes"]} and tree["groups"]
        assert len(api(ui.url, "lineage?top=1000&max_nodes=100000")["nodes"]) <= 5000  # capped
        assert len(api(ui.url, "programs?limit=100000")["rows"]) == 500  # the limit is capped
        pareto = api(ui.url, "pareto")
        assert pareto["available"] and len(pareto["points"]) <= 6000 and pareto["n_valid"] > len(pareto["points"]) / 2
        assert pareto["n_front"] == sum(p["front"] for p in pareto["points"])
        grid = api(ui.url, "archive")
        assert len(grid["cells"]) <= 64


def test_ui_command_errors_and_stop(real_run, tmp_path):
    assert evoforge_cli("ui", str(tmp_path / "missing")).returncode == 2
    (tmp_path / "empty").mkdir()
    proc = evoforge_cli("ui", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "not an evoforge run directory" in proc.stderr
    for cmd in ("ui", "report"):
        help_ = evoforge_cli(cmd, "--help")
        assert help_.returncode == 0 and "usage: evoforge" in help_.stdout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = evoforge_cli("ui", str(real_run), "--port", str(taken.getsockname()[1]))
        assert proc.returncode == 2 and "--port" in proc.stderr
    ui = UIProcess(real_run)
    ui.proc.send_signal(signal.SIGTERM)
    assert ui.proc.wait(10) == 0  # SIGTERM stops the dashboard cleanly


def test_database_without_programs(tmp_path):
    from evoforge.database.store import Store

    Store(tmp_path / "evoforge.db").close()
    with UIProcess(tmp_path) as ui:
        s = api(ui.url, "summary")
        assert s["n_programs"] == 0 and s["best"] is None
        assert api(ui.url, "series")["overall"] == [] and api(ui.url, "lineage")["nodes"] == []
        assert api(ui.url, "archive")["available"] is False and api(ui.url, "programs")["rows"] == []


def test_seed_helper_writes_what_it_says(tmp_path):
    seed_large(tmp_path / "evoforge.db", 300, objectives=False)
    with sqlite3.connect(tmp_path / "evoforge.db") as con:
        assert con.execute("SELECT COUNT(*) FROM programs").fetchone()[0] == 300
        assert con.execute("SELECT COUNT(*) FROM programs WHERE valid = 0").fetchone()[0] > 0


def test_models_view_shows_the_cost_of_every_llm_call(tmp_path, llm_double):
    """Proposals, meta-prompt requests and rubric-judge requests: each model's calls, tokens and cost
    (when its price is configured) and the total, as `status` counts them."""
    from conftest import REPO

    llm_double.control(judge="fair")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"llm:\n  max_in_flight: 1\n  models:\n"
                   f"    - {{name: m1, api_base: \"{llm_double.base_url}\", price_in_per_mtok: 1.0, price_out_per_mtok: 3.0}}\n"
                   f"    - {{name: m2, api_base: \"{llm_double.base_url}\"}}\n"
                   "meta_prompt:\n  enabled: true\n  propose_interval: 2\n")
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(REPO / "examples" / "docstring"), "--config", str(cfg), "--out", str(out),
                        "--iterations", "6", "--seed", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    st = json.loads(evoforge_cli("status", str(out), "--json", check=True).stdout)
    with UIProcess(out) as ui:
        models = api(ui.url, "models")
        summary = api(ui.url, "summary")
        _, js, _ = get(ui.url, "/static/app.js")
    by_name = {m["name"]: m for m in models["models"]}
    m1 = by_name["m1"]
    assert m1["judge_calls"] == st["judge"]["requests"] >= 1  # the judge is the first model: m1
    assert sum(m["meta_prompt_calls"] for m in by_name.values()) >= 1
    for name, m in by_name.items():  # every call counted once, as in status
        s = st["models"][name]
        assert m["calls"] == s["calls"] and m["prompt_tokens"] == s["prompt_tokens"]
        assert m["meta_prompt_calls"] == s.get("meta_prompt_calls", 0)
    assert m1["cost"] == pytest.approx(st["models"]["m1"]["cost"], abs=1e-6) and m1["cost"] > 0
    assert "m2" not in by_name or by_name["m2"]["cost"] is None  # no price configured for m2
    assert models["total_cost"] == pytest.approx(st["cost"], abs=1e-6) == pytest.approx(summary["cost"], abs=1e-6)
    assert summary["tokens"] == st["tokens"] and summary["llm_calls"] == sum(m["calls"] for m in st["models"].values())
    assert st["judge"]["cost"] > 0 and st["cost"] > st["judge"]["cost"]
    assert b"judge_calls" in js and b"total_cost" in js  # the page shows them
