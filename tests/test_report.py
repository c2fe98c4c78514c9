"""`evoforge report`: a static HTML report with PNG plots, for a real run."""
from __future__ import annotations

import hashlib
import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import evoforge_cli
from ui_helpers import seed_large, shared_real_run

pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install -e '.[dev]'")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.links, self._h = [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag in ("script", "link") and (a.get("src") or a.get("href")):
            self.links.append(a.get("src") or a.get("href"))
        self._h = tag == "h2"

    def handle_data(self, data):
        if self._h:
            self.headings.append(data.strip())
            self._h = False


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    return shared_real_run(tmp_path_factory)


def test_report_for_a_real_run(real_run, tmp_path):
    db = real_run / "evoforge.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / "report"
    proc = evoforge_cli("report", str(real_run), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["index"] == str(out / "index.html")
    expected = {"best_over_time.png", "best_per_island.png", "best_per_model.png", "failures.png",
                "model_usage.png", "map_elites.png"}
    assert set(result["figures"]) == expected  # single objective: no Pareto plot
    page = _Page()
    html = (out / "index.html").read_text()
    page.feed(html)
    assert set(page.images) == expected and not page.links  # self-contained apart from its PNGs
    for name in expected:
        w, h = png_size(out / name)
        assert w >= 600 and h >= 200 and (out / name).stat().st_size > 5000
    for heading in ("Summary", "Best score over time", "Best score per island", "Best score per LLM model",
                    "Failures by kind", "LLM usage and cost", "MAP-Elites grid", "Best program", "Run configuration"):
        assert heading in page.headings, heading
    status = json.loads(evoforge_cli("status", str(real_run), "--json", check=True).stdout)
    assert f"program {status['best']['id']}," in html and "def f(x)" in html
    assert re.search(r"<td>exception</td><td>1</td>", html) and "no_edit" in html
    assert "Top 10 programs" in html and "$" in html  # m1 has prices, so there is a cost
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # read-only


def report(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (the first test runs it as a subprocess): matplotlib is imported once."""
    from evoforge.cli import main

    code = main(["report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_output_dir_and_text_output(real_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    code, out, err = report(capsys, str(run))
    assert code == 0, err
    assert "report written to" in out and (run / "report" / "index.html").is_file()


def test_report_with_two_objectives_has_a_pareto_plot(tmp_path, capsys):
    seed_large(tmp_path / "evoforge.db", 400)
    code, out, err = report(capsys, str(tmp_path), "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    assert "pareto_front.png" in json.loads(out)["figures"]
    w, h = png_size(tmp_path / "r" / "pareto_front.png")
    assert w > 600 and h > 400 and "Pareto front" in (tmp_path / "r" / "index.html").read_text()


def test_report_of_an_empty_run_and_errors(tmp_path, capsys):
    from evoforge.database.store import Store

    Store(tmp_path / "evoforge.db").close()
    code, out, err = report(capsys, str(tmp_path), "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    assert json.loads(out)["figures"] == []
    assert "No valid program yet" in (tmp_path / "r" / "index.html").read_text()
    assert report(capsys, str(tmp_path / "missing"))[0] == 2
    (tmp_path / "plain").mkdir()
    code, _, err = report(capsys, str(tmp_path / "plain"))
    assert code == 2 and "not an evoforge run directory" in err
