"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium.

The browser and its driver come from the system packages `chromium` and
`chromium-driver` (scripts/test.sh installs them as root); nothing is downloaded:
both paths are given explicitly, so Selenium Manager never runs.  Screenshots go to a
temporary directory; `EVOFORGE_SCREENSHOTS=docs/img` refreshes the ones shown in
docs/dashboard.md (a plain test run never modifies the checkout).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from ui_helpers import LARGE_N, UIProcess, shared_large_run, shared_real_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("EVOFORGE_SCREENSHOTS") or tempfile.mkdtemp(prefix="evoforge-shots-"))

if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(f"Chromium is not installed ({CHROMIUM} and {CHROMEDRIVER} are needed: "
                "run `bash scripts/test.sh` as root, which apt-installs chromium and chromium-driver)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

os.environ.setdefault("SE_OFFLINE", "true")  # belt and braces: Selenium Manager must never fetch anything


def api(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + "api/" + path, timeout=60) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--disable-extensions", "--no-first-run", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    except Exception as err:  # e.g. a chromedriver that does not match the browser
        pytest.skip(f"Chromium could not be started: {err}")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    return shared_real_run(tmp_path_factory)


@pytest.fixture(scope="module")
def ui(real_run):
    with UIProcess(real_run) as proc:
        yield proc


def wait(driver, fn, timeout: float = 30):
    # The page re-renders a view when the run gains rows: an element found a moment ago may be gone.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: fn(d))


def count(driver, css: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, css))


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / name))


def no_errors(driver) -> None:
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert not driver.find_element(By.ID, "banner").is_displayed(), driver.find_element(By.ID, "banner").text


def open_view(driver, ui, view: str, ready_css: str):
    if not driver.current_url.startswith(ui.url):  # another server: forget the old page and its messages
        driver.get("about:blank")
        driver.get_log("browser")
    driver.get(ui.url + "#" + view)
    wait(driver, lambda d: count(d, ready_css) > 0)


def test_overview_charts_render(browser, ui):
    s = api(ui.url, "summary")
    open_view(browser, ui, "overview", "#chart-best svg.chart path.series")
    assert count(browser, "#chart-islands path.series") == 4
    assert count(browser, "#chart-models path.series") == 2
    assert count(browser, "#chart-failures rect.bar") == 3  # exception, invalid, no_edit
    assert count(browser, "#chart-usage rect.bar") == 2
    assert count(browser, "#chart-best .band rect") >= 1
    stats = browser.find_element(By.CSS_SELECTOR, ".stats").text
    assert str(s["n_programs"]) in stats and f"{s['n_failed']} failed" in stats
    assert "running" in browser.find_element(By.ID, "status").text or "idle" in browser.find_element(By.ID, "status").text
    no_errors(browser)
    browser.set_window_size(1400, 1500)
    shot(browser, "dashboard-overview.png")
    browser.set_window_size(1400, 1000)


def test_lineage_tree_zoom_and_click_shows_code(browser, ui):
    s = api(ui.url, "summary")
    open_view(browser, ui, "lineage", "#tree g.node.program")
    wait(browser, lambda d: count(d, "#tree g.node.program") == s["n_programs"])
    assert count(browser, "#tree g.node.failed") == s["n_failed"] == 2
    assert count(browser, "#tree g.node.best") == 1
    viewport = browser.find_element(By.CSS_SELECTOR, "#tree g.viewport")
    before = viewport.get_attribute("transform")
    browser.find_element(By.XPATH, "//div[@class='tree-tools']/button[text()='+']").click()
    assert viewport.get_attribute("transform") != before  # zoomed
    browser.find_element(By.XPATH, "//div[@class='tree-tools']/button[text()='fit']").click()
    best = s["best"]["id"]
    node = browser.find_element(By.CSS_SELECTOR, f'#tree g.node[data-id="{best}"] circle')
    ActionChains(browser).move_to_element(node).click().perform()
    code = api(ui.url, f"program/{best}")["program"]["code"]
    panel = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tree-side pre.program-code"))[0]
    assert [ln.strip() for ln in panel.text.splitlines() if ln.strip()] == [ln.strip() for ln in code.splitlines()
                                                                            if ln.strip()]
    side = browser.find_element(By.ID, "tree-side").text
    assert f"Program {best}" in side and "null" not in side and "undefined" not in side
    assert count(browser, f'#tree g.node.selected[data-id="{best}"]') == 1
    no_errors(browser)
    shot(browser, "dashboard-lineage.png")


def test_program_page(browser, ui):
    s = api(ui.url, "summary")
    best = s["best"]["id"]
    open_view(browser, ui, f"program/{best}", ".program-page")
    page = browser.find_element(By.CSS_SELECTOR, ".program-page").text
    for heading in ("Metrics", "Code", "Diff to parent", "Evaluator output", "Prompt and reply"):
        assert heading in page
    assert count(browser, "pre.diff .d-add") >= 1 and count(browser, "pre.diff .d-del") >= 1
    assert "combined_score" in page and "def f(x)" in page
    assert count(browser, "details.message") >= 2  # prompt messages and the reply
    no_errors(browser)
    browser.set_window_size(1400, 2400)  # the whole page: code, diff, output and the prompt
    shot(browser, "dashboard-program.png")
    browser.set_window_size(1400, 1000)
    parent = browser.find_element(By.PARTIAL_LINK_TEXT, "program ")
    parent.click()
    wait(browser, lambda d: "#program/" in d.current_url and d.current_url.split("/")[-1] != str(best))


def test_program_list_filters_and_opens(browser, ui):
    s = api(ui.url, "summary")
    open_view(browser, ui, "programs", "#program-list tbody tr")
    assert count(browser, "#program-list tbody tr") == s["n_programs"]
    Select(browser.find_elements(By.CSS_SELECTOR, ".controls select")[1]).select_by_value("failed")
    wait(browser, lambda d: count(d, "#program-list tbody tr") == s["n_failed"])
    assert count(browser, "#program-list tbody tr.failed") == s["n_failed"]
    browser.find_element(By.CSS_SELECTOR, "#program-list tbody tr").click()
    wait(browser, lambda d: count(d, ".program-page") == 1)
    assert "failed" in browser.find_element(By.CSS_SELECTOR, ".program-page").text
    no_errors(browser)


def test_archive_and_config_views(browser, ui):
    grid = api(ui.url, "archive")
    open_view(browser, ui, "archive", "#archive-grid rect.cell")
    assert count(browser, "#archive-grid rect.cell") == len(grid["cells"])
    shot(browser, "dashboard-map-elites.png")
    open_view(browser, ui, "config", "pre.code")
    text = browser.find_element(By.ID, "main").text
    assert '"name": "m1"' in text and "isolation" in text and "new best" in text
    no_errors(browser)


def test_page_moves_while_the_run_writes(browser, real_run, tmp_path):
    from evoforge.database.store import ProgramRecord, ProposalRecord, Store

    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    with UIProcess(run) as live:
        n = api(live.url, "summary")["n_programs"]
        open_view(browser, live, "overview", "#chart-best path.series")
        with Store(run / "evoforge.db") as store:  # another process than the server, as a run is
            code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return 3.65 * x\n# EVOLVE-BLOCK-END\n"
            for k in range(3):
                prop = ProposalRecord(None, 100 + k, 0, 1, None, "m1", "rewrite", [], "reply", 10, 5, 0.1,
                                      "evaluated", None, None)
                store.record_iteration(prop, ProgramRecord(None, 1, None, 0, 1, 100 + k, code, "python", True,
                                                           -0.001 * k, {"combined_score": -0.001 * k}, model="m1"))
                time.sleep(0.2)
        wait(browser, lambda d: f"{n + 3} programs" in d.find_element(By.ID, "status").text)
        wait(browser, lambda d: "iteration 100" in d.find_element(By.CSS_SELECTOR, ".stats").text)
        assert "running" in browser.find_element(By.ID, "status").text
        best = browser.find_element(By.CSS_SELECTOR, ".stats").text
        assert str(n + 3) in best and "iteration 100" in best  # the new best (score 0) is shown
        no_errors(browser)


def test_large_run_stays_usable(browser, tmp_path_factory):
    run = shared_large_run(tmp_path_factory)
    with UIProcess(run) as big:
        open_view(browser, big, "overview", "#chart-best path.series")
        assert f"{LARGE_N:,}" in browser.find_element(By.CSS_SELECTOR, ".stats").text
        open_view(browser, big, "lineage", "#tree g.node.program")
        info = browser.find_element(By.ID, "lineage-info").text
        assert f"of {LARGE_N:,} programs" in info and count(browser, "#tree g.node.program") <= 1500
        assert count(browser, "#tree g.node.group") >= 1  # hidden children are counted, not drawn
        browser.find_element(By.XPATH, "//div[@class='tree-tools']/button[text()='best']").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tree-side pre.program-code"))
        shot(browser, "dashboard-lineage-large.png")
        open_view(browser, big, "programs", "#program-list tbody tr")
        assert count(browser, "#program-list tbody tr") == 50
        browser.find_element(By.XPATH, "//button[contains(text(), 'next')]").click()
        wait(browser, lambda d: "51–100 of" in d.find_element(By.CSS_SELECTOR, ".pager").text)
        open_view(browser, big, "pareto", "#pareto-chart circle.front-pt")
        assert count(browser, "#pareto-chart circle") <= 6000
        shot(browser, "dashboard-pareto.png")
        no_errors(browser)
