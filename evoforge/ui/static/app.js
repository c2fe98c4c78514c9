"use strict";
// The single-page dashboard: hash routing, live polling and the overview and
// lineage views (the other views are in views.js).
//
// Live updates: /api/summary is polled every 2 s (a few cheap counters); only when
// its `version` changes does the visible view fetch its own data again, so an idle
// tab and a finished run cost the server almost nothing.
(function () {
  const { h, api, fmtInt, fmtCost, fmtTime, section } = window.Dom;
  const C = window.Charts;
  const POLL_MS = 2000;
  const app = { summary: null, version: null, view: null, arg: null, busy: false, lineageTop: 30, selected: null };
  window.App = app;

  const main = () => document.getElementById("main");

  function setStatus(text, bad) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.classList.toggle("bad", !!bad);
  }

  function showError(err) {
    const b = document.getElementById("banner");
    b.hidden = !err;
    b.textContent = err ? String(err.message || err) : "";
  }

  // -- overview ------------------------------------------------------------------
  function card(label, value, sub) {
    return h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value),
      sub ? h("div", { class: "stat-sub" }, sub) : null);
  }

  async function renderOverview(root) {
    const s = app.summary;
    const [series, failures, models] = await Promise.all([api("/api/series?points=600"), api("/api/failures"), api("/api/models")]);
    const obj = s.objective || {};
    const best = s.best;
    const stats = h("div", { class: "stats" },
      card("programs", fmtInt(s.n_programs), `${fmtInt(s.n_valid)} valid · ${fmtInt(s.n_failed)} failed`),
      card("LLM calls", fmtInt(s.llm_calls ?? s.n_proposals),
        `${fmtInt(s.n_proposals)} proposals · last iteration ${fmtInt(s.last_iteration)}`),
      card(`best ${obj.name || "score"}`, best ? C.fmtNum(best.score) : "none yet",
        best ? h("a", { href: `#program/${best.id}` }, `program ${best.id} · iteration ${best.iteration}`) : null),
      card("tokens", fmtInt(s.tokens), `cost ${fmtCost(s.cost)}`),
      card("last write", s.updated_at ? window.Dom.fmtAgo(s.updated_at) : "–",
        s.updated_at ? `${fmtTime(s.updated_at)} · ${obj.direction || ""} ${obj.name || ""}` : ""));
    const overall = h("div", { class: "chart-box", id: "chart-best" });
    const islands = h("div", { class: "chart-box", id: "chart-islands" });
    const byModel = h("div", { class: "chart-box", id: "chart-models" });
    const fails = h("div", { class: "chart-box", id: "chart-failures" });
    const usage = h("div", { class: "chart-box", id: "chart-usage" });
    const grid = h("div", { class: "grid2" },
      section("Best score over time", overall, h("p", { class: "note" },
        "Line: best valid score so far. Shaded: range of valid scores per iteration bucket. Click a point to open the program.")),
      section("Best score per island", islands),
      section("Best score per LLM model", byModel),
      section("Failures by kind", fails),
      section("LLM usage and cost per model", usage, modelTable(models)));
    root.replaceChildren(stats, grid);
    const open = id => { location.hash = `#program/${id}`; };
    const xMax = series.last_iteration;
    C.lineChart(overall, [{ name: "best so far", points: series.overall, step: true, color: "#1f77b4" }],
      { xLabel: "iteration", yLabel: obj.name, band: series.band.map(b => [b[0], b[1], b[2], b[3]]),
        bandLabel: "valid scores", legend: true, xMax, onPoint: open, empty: "No valid program yet." });
    C.lineChart(islands, Object.entries(series.islands).map(([k, pts]) => ({ name: `island ${k}`, points: pts, step: true })),
      { xLabel: "iteration", yLabel: obj.name, xMax, onPoint: open, legend: true, empty: "No valid program yet." });
    C.lineChart(byModel, Object.entries(series.models).map(([k, pts]) => ({ name: k, points: pts, step: true })),
      { xLabel: "iteration", yLabel: obj.name, xMax, onPoint: open, legend: true, empty: "No program from an LLM yet." });
    const bars = [];
    const colors = { evaluation: "#e03131", edit: "#f08c00", llm: "#7048e8" };
    for (const [source, kinds] of Object.entries(failures.by_source)) {
      for (const [kind, n] of Object.entries(kinds)) bars.push({ label: `${source}: ${kind}`, value: n, color: colors[source] });
    }
    bars.sort((a, b) => b.value - a.value);
    C.barChart(fails, bars, { empty: "No failures." });
    C.barChart(usage, models.models.map(m => ({ label: m.name, value: m.prompt_tokens + m.completion_tokens,
      title: `${m.name}: ${fmtInt(m.prompt_tokens)} prompt + ${fmtInt(m.completion_tokens)} completion tokens` })),
    { empty: "No LLM calls yet.", format: v => `${fmtInt(v)} tok` });
  }

  // Calls that are not proposals (counted in calls, tokens and cost): meta-prompt and rubric-judge requests.
  function otherCalls(m) {
    const parts = [];
    if (m.meta_prompt_calls) parts.push(`${fmtInt(m.meta_prompt_calls)} meta-prompt`);
    if (m.judge_calls) parts.push(`${fmtInt(m.judge_calls)} judge`);
    return parts.length ? ` (${parts.join(", ")})` : "";
  }

  function modelTable(models) {
    if (!models.models.length) return null;
    const head = ["model", "calls", "failed calls", "programs", "valid", "best", "prompt tok", "completion tok", "mean latency", "cost"];
    return h("table", { class: "list" }, h("thead", {}, h("tr", {}, head.map(x => h("th", {}, x)))),
      h("tbody", {}, models.models.map(m => h("tr", {},
        h("td", {}, m.name), h("td", {}, fmtInt(m.calls) + otherCalls(m)), h("td", {}, fmtInt(m.failed_calls)),
        h("td", {}, fmtInt(m.programs)), h("td", {}, m.programs ? `${(100 * m.valid / m.programs).toFixed(0)}%` : "–"),
        h("td", {}, C.fmtNum(m.best_score)), h("td", {}, fmtInt(m.prompt_tokens)), h("td", {}, fmtInt(m.completion_tokens)),
        h("td", {}, window.Dom.fmtDuration(m.mean_latency_s)), h("td", {}, m.cost === null ? "no price set" : fmtCost(m.cost))))),
      models.total_cost !== null ? h("tfoot", {}, h("tr", {}, h("th", { colspan: 9 }, "total"), h("th", {}, fmtCost(models.total_cost)))) : null);
  }

  // -- lineage -------------------------------------------------------------------
  async function renderLineage(root) {
    const data = await api(`/api/lineage?top=${app.lineageTop}`);
    let treeBox = root.querySelector("#tree");
    let side = root.querySelector("#tree-side");
    if (!treeBox) {
      const input = h("input", { type: "number", min: 1, max: 1000, value: app.lineageTop, id: "lineage-top" });
      const controls = h("div", { class: "controls" }, h("label", {}, "ancestors of the top ", input, " programs "),
        h("button", { onclick: () => { app.lineageTop = Math.max(1, +input.value || 30); refresh(true); } }, "show"),
        h("span", { id: "lineage-info", class: "note" }));
      treeBox = h("div", { id: "tree", class: "tree-box" });
      side = h("div", { id: "tree-side", class: "tree-side" }, h("p", { class: "note" }, "Click a node to see its program."));
      const legendBox = h("div", { class: "legend" },
        h("span", {}, h("i", { class: "ramp" }), "score (worst → best)"),
        h("span", {}, h("i", { style: "background:#e03131;transform:rotate(45deg)" }), "failed"),
        h("span", {}, h("i", { style: "background:#adb5bd" }), "+k: children not shown"));
      root.replaceChildren(section("Lineage", controls, legendBox, h("div", { class: "tree-layout" }, treeBox, side)));
    }
    const info = root.querySelector("#lineage-info");
    info.textContent = data.mode === "full" ? `all ${fmtInt(data.total)} programs` :
      `${fmtInt(data.nodes.length)} of ${fmtInt(data.total)} programs (ancestors of the top ${data.top}); the rest are grouped`;
    window.Tree.renderTree(treeBox, data, { selected: app.selected, onSelect: id => {
      app.selected = id;
      window.Views.programPanel(side, id, { compact: true });
    } });
  }

  // -- routing and polling ----------------------------------------------------------
  const VIEWS = {
    overview: renderOverview,
    lineage: renderLineage,
    programs: root => window.Views.renderPrograms(root),
    program: (root, arg) => window.Views.renderProgram(root, arg),
    archive: root => window.Views.renderArchive(root, app.summary),
    pareto: root => window.Views.renderPareto(root, app.summary),
    config: root => window.Views.renderConfig(root),
  };
  const LIVE = new Set(["overview", "lineage", "programs", "archive", "pareto"]);

  function route() {
    const [view, arg] = (location.hash.replace(/^#/, "") || "overview").split("/");
    return VIEWS[view] ? [view, arg] : ["overview", undefined];
  }

  async function refresh(navigated) {
    if (!app.summary) return;
    if (app.busy) { app.pending = true; return; }  // run again once the current render ends
    const [view, arg] = route();
    if (navigated || view !== app.view || arg !== app.arg) {
      if (view !== app.view || arg !== app.arg) main().replaceChildren(h("p", { class: "note" }, "loading…"));
      app.view = view; app.arg = arg;
    }
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === view);
    app.busy = true;
    try {
      await VIEWS[view](main(), arg);
      showError(null);
    } catch (err) {
      showError(err);
    } finally {
      app.busy = false;
      if (app.pending) { app.pending = false; refresh(true); }
    }
  }

  async function poll() {
    if (!document.hidden) {
      try {
        const s = await api("/api/summary");
        app.summary = s;
        document.getElementById("nav-pareto").hidden = !s.pareto;
        const name = s.problem_name ? `${s.problem_name} · ` : "";
        const age = s.updated_at ? Date.now() / 1000 - s.updated_at : Infinity;
        setStatus(`${name}${fmtInt(s.n_programs)} programs · ` +
          (age < 60 ? `running (last write ${window.Dom.fmtAgo(s.updated_at)})` : "idle"));
        const changed = JSON.stringify(s.version) !== JSON.stringify(app.version);
        app.version = s.version;
        if (app.view === null || (changed && LIVE.has(app.view))) await refresh(false);
      } catch (err) {
        setStatus("server unreachable", true);
      }
    }
    setTimeout(poll, POLL_MS);
  }

  app.refreshNow = () => refresh(true);
  window.addEventListener("hashchange", () => refresh(true));
  window.addEventListener("DOMContentLoaded", poll);
})();
