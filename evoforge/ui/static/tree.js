"use strict";
// Lineage tree: a layered layout (depth = distance from the seed program) drawn in
// SVG inside one <g> whose transform gives zoom (wheel) and pan (drag).  The
// server already trimmed large runs to the ancestors of the top programs; hidden
// children arrive as "groups" and are drawn as one grey box per parent.

const DX = 26, DY = 64;

function layoutTree(data) {
  const byId = new Map(data.nodes.map(n => [n.id, { ...n, kids: [], kind: "program" }]));
  const roots = [];
  for (const n of byId.values()) {
    const p = n.parent_id === null ? null : byId.get(n.parent_id);
    if (p) p.kids.push(n); else roots.push(n);
  }
  for (const g of data.groups || []) {
    const p = byId.get(g.parent_id);
    if (p) p.kids.push({ ...g, id: `g${g.parent_id}`, kind: "group", kids: [] });
  }
  const order = (a, b) => (a.kind === "group") - (b.kind === "group") || a.id - b.id;
  roots.sort((a, b) => a.island - b.island || a.id - b.id);
  let nextX = 0, maxDepth = 0;
  const placed = [];
  // Iterative post-order so a 10,000-generation chain cannot overflow the JS stack.
  for (const root of roots) {
    const stack = [[root, 0, false]];
    while (stack.length) {
      const [n, depth, done] = stack.pop();
      if (!done) {
        n.depth = depth;
        maxDepth = Math.max(maxDepth, depth);
        n.kids.sort(order);
        stack.push([n, depth, true]);
        for (let i = n.kids.length - 1; i >= 0; i--) stack.push([n.kids[i], depth + 1, false]);
      } else {
        n.x = n.kids.length ? (n.kids[0].x + n.kids[n.kids.length - 1].x) / 2 : nextX++;
        placed.push(n);
      }
    }
    nextX += 1;  // gap between islands' trees
  }
  return { placed, byId, width: nextX, maxDepth };
}

function renderTree(container, data, opts) {
  const C = window.Charts;
  opts = opts || {};
  if (!data.nodes.length) return C.emptyNote(container, "No programs yet.");
  const prev = container._treeView;  // keep zoom/pan across live refreshes
  C.clear(container);
  const { placed, byId, width, maxDepth } = layoutTree(data);
  const [lo, hi] = data.score_range || [0, 1];
  const maximize = data.direction !== "minimize";
  const t = s => (s === null || s === undefined) ? null : (hi > lo ? (maximize ? (s - lo) / (hi - lo) : (hi - s) / (hi - lo)) : 1);

  const vw = Math.max(300, container.clientWidth || 800), vh = opts.height || 560;
  const svg = C.svgEl("svg", { class: "tree", width: vw, height: vh, viewBox: `0 0 ${vw} ${vh}` });
  const view = C.svgEl("g", { class: "viewport" }, svg);
  const edges = C.svgEl("g", { class: "edges" }, view);
  const nodes = C.svgEl("g", { class: "nodes" }, view);
  const pos = n => [n.x * DX, n.depth * DY];

  let d = "";
  for (const n of placed) {
    for (const k of n.kids) {
      const [x0, y0] = pos(n), [x1, y1] = pos(k);
      d += `M${x0},${y0}C${x0},${(y0 + y1) / 2} ${x1},${(y0 + y1) / 2} ${x1},${y1}`;
    }
  }
  C.svgEl("path", { d, class: "edge" }, edges);

  for (const n of placed) {
    const [x, y] = pos(n);
    let el;
    if (n.kind === "group") {
      el = C.svgEl("g", { class: "node group", transform: `translate(${x},${y})` }, nodes);
      C.svgEl("rect", { x: -11, y: -8, width: 22, height: 16, rx: 4 }, el);
      C.svgEl("text", { y: 4, "text-anchor": "middle" }, el).textContent = n.count > 99 ? "99+" : `+${n.count}`;
      C.svgEl("title", {}, el).textContent = `${n.count} more children of program ${n.parent_id} not shown` +
        ` (${n.n_failed} failed` + (n.best_score !== null ? `, best ${C.fmtNum(n.best_score)})` : ")");
      continue;
    }
    const failed = !n.valid;
    const best = n.id === data.best_id;
    el = C.svgEl("g", { class: `node program${failed ? " failed" : ""}${best ? " best" : ""}`,
      transform: `translate(${x},${y})`, "data-id": n.id }, nodes);
    if (failed) {
      C.svgEl("rect", { x: -5, y: -5, width: 10, height: 10, transform: "rotate(45)", fill: "#e03131" }, el);
    } else {
      C.svgEl("circle", { r: best ? 10 : 7, fill: C.scoreColor(t(n.score)) }, el);
    }
    C.svgEl("title", {}, el).textContent = `program ${n.id} · island ${n.island} · gen ${n.generation} · ` +
      (failed ? `failed (${n.failure_kind || "invalid"})` : `score ${C.fmtNum(n.score)}`) + (n.model ? ` · ${n.model}` : "");
    el.addEventListener("click", ev => { if (!svg._dragged) { select(n.id); ev.stopPropagation(); } });
  }

  function select(id) {
    for (const e of nodes.querySelectorAll(".selected")) e.classList.remove("selected");
    const e = nodes.querySelector(`[data-id="${id}"]`);
    if (e) e.classList.add("selected");
    if (opts.onSelect) opts.onSelect(id);
  }

  // -- zoom and pan -------------------------------------------------------------
  const st = prev ? { ...prev } : null;
  const state = st || { k: 1, tx: 0, ty: 0 };
  const apply = () => view.setAttribute("transform", `translate(${state.tx},${state.ty}) scale(${state.k})`);
  function fit() {
    const w = Math.max(1, (width - 1) * DX), h = Math.max(1, maxDepth * DY);
    state.k = Math.min(2, Math.max(0.02, Math.min((vw - 40) / w, (vh - 40) / h)));
    state.tx = (vw - w * state.k) / 2;
    state.ty = 20 + Math.max(0, (vh - 40 - h * state.k) / 2);
    apply();
  }
  function zoomAt(px, py, factor) {
    const k = Math.min(8, Math.max(0.01, state.k * factor));
    state.tx = px - (px - state.tx) * (k / state.k);
    state.ty = py - (py - state.ty) * (k / state.k);
    state.k = k;
    apply();
  }
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * 0.0015));
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", ev => { drag = { x: ev.clientX, y: ev.clientY, tx: state.tx, ty: state.ty }; svg._dragged = false; });
  svg.addEventListener("pointermove", ev => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) svg._dragged = true;
    state.tx = drag.tx + dx; state.ty = drag.ty + dy;
    apply();
  });
  const end = () => { drag = null; };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointerleave", end);
  container._treeView = state;
  if (st) apply(); else fit();

  const bar = document.createElement("div");
  bar.className = "tree-tools";
  for (const [label, fn] of [["+", () => zoomAt(vw / 2, vh / 2, 1.4)], ["−", () => zoomAt(vw / 2, vh / 2, 1 / 1.4)],
    ["fit", fit], ["best", () => { if (byId.has(data.best_id)) { const [x, y] = pos(byId.get(data.best_id));
      state.k = Math.max(state.k, 1); state.tx = vw / 2 - x * state.k; state.ty = vh / 2 - y * state.k; apply(); select(data.best_id); } }]]) {
    const b = document.createElement("button");
    b.textContent = label;
    b.addEventListener("click", () => { fn(); container._treeView = state; });
    bar.appendChild(b);
  }
  container.appendChild(bar);
  container.appendChild(svg);
  if (opts.selected !== undefined && opts.selected !== null) {
    const e = nodes.querySelector(`[data-id="${opts.selected}"]`);
    if (e) e.classList.add("selected");
  }
}

window.Tree = { renderTree, layoutTree };
