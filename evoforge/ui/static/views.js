"use strict";
// Program page, program list, MAP-Elites grid, Pareto front and run config.
(function () {
  const { h, api, fmtInt, fmtTime, fmtDuration, section, kvTable, codeBlock, diffBlock, link } = window.Dom;
  const C = window.Charts;
  const list = { offset: 0, limit: 50, sort: "score", status: "all", island: "", model: "", kind: "" };

  function statusText(p) {
    return p.valid ? "valid" : `failed: ${p.failure_kind || "invalid"}`;
  }

  function metricsTable(metrics) {
    const keys = Object.keys(metrics || {});
    if (!keys.length) return h("p", { class: "note" }, "No metrics.");
    return kvTable(keys.sort().map(k => [k, C.fmtNum(metrics[k])]));
  }

  function textOrNone(label, text) {
    return text ? h("div", {}, h("h3", {}, label), codeBlock(text, "plain")) : null;
  }

  // Compact panel (lineage side bar): summary and code of one program.
  async function programPanel(box, id, opts) {
    box.replaceChildren(h("p", { class: "note" }, `loading program ${id}…`));
    let d;
    try { d = await api(`/api/program/${id}?diff=0`); } catch (err) {
      box.replaceChildren(h("p", { class: "error" }, err.message)); return;
    }
    const p = d.program;
    box.replaceChildren(
      h("h3", {}, `Program ${p.id} `, h("a", { href: `#program/${p.id}`, class: "small" }, "open page →")),
      kvTable([["status", statusText(p)], ["score", C.fmtNum(p.score)], ["island", p.island],
        ["generation", p.generation], ["iteration", p.iteration], ["model", p.model || "(initial program)"],
        ["parent", p.parent_id === null ? "–" : link(`program ${p.parent_id}`, `#program/${p.parent_id}`)]]),
      ...(p.error ? [h("p", { class: "error" }, p.error)] : []),
      codeBlock(p.code, "program-code"));
  }

  async function renderProgram(root, id) {
    const d = await api(`/api/program/${encodeURIComponent(id)}`);
    const p = d.program, pr = d.proposal;
    const kids = d.children.length ? h("span", {}, d.children.map((c, i) =>
      h("span", {}, i ? ", " : "", link(`${c.id}${c.valid ? "" : " ✗"}`, `#program/${c.id}`))),
    d.n_children > d.children.length ? ` … (${fmtInt(d.n_children)} in all)` : "") : "none";
    const header = section(`Program ${p.id}`, kvTable([
      ["status", statusText(p)], ["score", C.fmtNum(p.score)], ["island", p.island], ["generation", p.generation],
      ["iteration", p.iteration], ["model", p.model || "(initial program)"], ["language", p.language],
      ["parent", d.parent ? h("span", {}, link(`program ${d.parent.id}`, `#program/${d.parent.id}`), ` (score ${C.fmtNum(d.parent.score)})`) : "– (seed program)"],
      ["children", kids], ["evaluation time", fmtDuration(p.eval_time_s)], ["created", fmtTime(p.created_at)],
      p.flags && p.flags.length ? ["flags", p.flags.join(", ")] : null,
      p.features && Object.keys(p.features).length ? ["features", JSON.stringify(p.features)] : null]));
    const code = section("Code", codeBlock(p.code, "program-code"));
    const diff = section("Diff to parent", d.diff === null ? h("p", { class: "note" }, "Seed program: no parent.") :
      (d.diff ? diffBlock(d.diff) : h("p", { class: "note" }, "Identical to its parent.")));
    const metrics = section("Metrics", metricsTable(p.metrics));
    const hasArtifacts = p.artifacts && Object.keys(p.artifacts).length;
    const output = section("Evaluator output",
      p.error ? h("div", {}, h("h3", {}, "error"), h("pre", { class: "code plain error" }, p.error)) : null,
      textOrNone("stdout", p.stdout), textOrNone("stderr", p.stderr),
      hasArtifacts ? h("div", {}, h("h3", {}, "artifacts"), codeBlock(JSON.stringify(p.artifacts, null, 2), "plain")) : null,
      !p.error && !p.stdout && !p.stderr && !hasArtifacts ? h("p", { class: "note" }, "No output.") : null);
    let prompt;
    if (!pr) {
      prompt = section("Prompt and reply", h("p", { class: "note" }, "No LLM call produced this program (seed or migrated copy)."));
    } else {
      prompt = section("Prompt and reply",
        kvTable([["model", pr.model], ["edit mode", pr.edit_mode], ["tokens", `${fmtInt(pr.prompt_tokens)} prompt + ${fmtInt(pr.completion_tokens)} completion`],
          ["latency", fmtDuration(pr.latency_s)], ["outcome", pr.outcome]]),
        (pr.messages || []).map((m, i) => h("details", { class: "message", open: i === (pr.messages.length - 1) ? true : null },
          h("summary", {}, `${m.role} (${fmtInt((m.content || "").length)} chars)`), codeBlock(m.content || "", "plain"))),
        h("details", { class: "message", open: true }, h("summary", {}, "reply"), codeBlock(pr.reply || "", "plain")));
    }
    root.replaceChildren(h("div", { class: "program-page" }, header, metrics, code, diff, output, prompt));
  }

  async function renderPrograms(root) {
    const q = new URLSearchParams({ offset: list.offset, limit: list.limit, sort: list.sort, status: list.status });
    for (const k of ["island", "model", "kind"]) if (list[k] !== "") q.set(k, list[k]);
    const d = await api(`/api/programs?${q}`);
    const set = (k, v) => { list[k] = v; if (k !== "offset") list.offset = 0; window.App.refreshNow(); };
    const select = (k, options) => h("select", { onchange: e => set(k, e.target.value) },
      options.map(([v, label]) => h("option", { value: v, selected: String(list[k]) === String(v) ? true : null }, label)));
    const controls = h("div", { class: "controls" },
      "sort ", select("sort", [["score", "best first"], ["-id", "newest first"], ["id", "oldest first"]]),
      " show ", select("status", [["all", "all"], ["valid", "valid"], ["failed", "failed"]]),
      " island ", select("island", [["", "any"], ...d.islands.map(i => [i, i])]),
      " model ", select("model", [["", "any"], ...d.models.map(m => [m, m])]),
      " failure ", select("kind", [["", "any"], ...d.kinds.map(k => [k, k])]));
    const rows = d.rows.map(r => h("tr", { class: r.valid ? "" : "failed", onclick: () => { location.hash = `#program/${r.id}`; } },
      h("td", {}, link(r.id, `#program/${r.id}`)), h("td", {}, C.fmtNum(r.score)), h("td", {}, statusText(r)),
      h("td", {}, r.island), h("td", {}, r.generation), h("td", {}, r.iteration), h("td", {}, r.model || "–"),
      h("td", {}, r.parent_id === null ? "–" : r.parent_id), h("td", {}, fmtDuration(r.eval_time_s))));
    const last = Math.min(d.total, d.offset + d.rows.length);
    const pager = h("div", { class: "pager" },
      h("button", { disabled: d.offset <= 0 ? true : null, onclick: () => set("offset", Math.max(0, d.offset - list.limit)) }, "← previous"),
      ` ${fmtInt(d.total ? d.offset + 1 : 0)}–${fmtInt(last)} of ${fmtInt(d.total)} `,
      h("button", { disabled: last >= d.total ? true : null, onclick: () => set("offset", d.offset + list.limit) }, "next →"));
    root.replaceChildren(section("Programs", controls,
      h("table", { class: "list clickable", id: "program-list" },
        h("thead", {}, h("tr", {}, ["id", "score", "status", "island", "gen", "iteration", "model", "parent", "eval time"].map(x => h("th", {}, x)))),
        h("tbody", {}, rows)), pager));
  }

  function rampT(summary, lo, hi) {
    const max = !summary.objective || summary.objective.direction !== "minimize";
    return s => hi > lo ? (max ? (s - lo) / (hi - lo) : (hi - s) / (hi - lo)) : 1;
  }

  async function renderArchive(root, summary) {
    const d = await api("/api/archive");
    if (!d.available) {
      root.replaceChildren(section("MAP-Elites archive", h("p", { class: "note", id: "archive-missing" }, d.reason)));
      return;
    }
    const box = h("div", { class: "chart-box", id: "archive-grid" });
    root.replaceChildren(section("MAP-Elites archive", h("p", { class: "note" },
      `${fmtInt(d.cells.length)} of ${fmtInt(d.bins[0] * (d.bins[1] || 1))} cells filled; each cell shows its best program (click to open).`), box));
    const scores = d.cells.map(c => c.score);
    C.heatmap(box, d, { t: rampT(summary, Math.min(...scores), Math.max(...scores)), onCell: id => { location.hash = `#program/${id}`; } });
  }

  async function renderPareto(root) {
    const d = await api("/api/pareto");
    if (!d.available) {
      root.replaceChildren(section("Pareto front", h("p", { class: "note" }, d.reason))); return;
    }
    const [a, b] = d.objectives;
    const box = h("div", { class: "chart-box", id: "pareto-chart" });
    const table = h("table", { class: "list clickable" },
      h("thead", {}, h("tr", {}, h("th", {}, "program"), d.objectives.map(o => h("th", {}, `${o.name} (${o.direction})`)))),
      h("tbody", {}, d.points.filter(p => p.front).slice(0, 500).map(p => h("tr", { onclick: () => { location.hash = `#program/${p.id}`; } },
        h("td", {}, p.id), p.values.map(v => h("td", {}, C.fmtNum(v)))))));
    root.replaceChildren(section("Pareto front", h("p", { class: "note" },
      `${fmtInt(d.n_front)} non-dominated (red) of ${fmtInt(d.n_valid)} valid programs` +
      (d.points.length < d.n_valid ? ` (${fmtInt(d.points.length)} drawn: the front and an even sample of the rest).` : ".")), box),
    section("Programs on the front", table));
    C.scatterChart(box, d.points.map(p => ({ id: p.id, x: p.values[0], y: p.values[1], front: p.front })),
      { xLabel: `${a.name} (${a.direction})`, yLabel: `${b.name} (${b.direction})`, onPoint: id => { location.hash = `#program/${id}`; } });
  }

  async function renderConfig(root) {
    const [d, log] = await Promise.all([api("/api/config"), api("/api/log?lines=200")]);
    const meta = Object.entries(d.meta).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
    root.replaceChildren(
      section("Run", kvTable([["run directory", d.run_dir], ...meta])),
      section("Configuration", d.config ? codeBlock(JSON.stringify(d.config, null, 2), "plain") :
        h("p", { class: "note" }, "The run database holds no configuration.")),
      section("Log (last lines of evoforge.log)", log.lines.length ? codeBlock(log.lines.join("\n"), "plain") :
        h("p", { class: "note" }, "No log file.")));
  }

  window.Views = { programPanel, renderProgram, renderPrograms, renderArchive, renderPareto, renderConfig };
})();
