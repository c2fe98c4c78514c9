"use strict";
// Small SVG chart helpers written for the dashboard: no external library, so the
// page works with no internet and every byte comes from the evoforge server.
// All text from the run (model names, failure kinds) goes in via textContent.

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

function svgEl(tag, attrs, parent) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  if (Number.isInteger(v)) return String(v);
  return v.toPrecision(6).replace(/\.?0+$/, "");
}

// Evenly spaced "round" tick values covering [lo, hi].
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
  const raw = (hi - lo) / Math.max(1, n);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

// Viridis-like ramp for t in [0, 1] (dark purple = worst, yellow = best).
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function scoreColor(t) {
  if (t === null || Number.isNaN(t)) return "#999";
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
  const c = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function clear(container) { while (container.firstChild) container.removeChild(container.firstChild); }

function emptyNote(container, text) {
  clear(container);
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = text;
  container.appendChild(p);
}

function legend(container, items) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const it of items) {
    const s = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = it.color;
    s.appendChild(sw);
    s.appendChild(document.createTextNode(it.name));
    box.appendChild(s);
  }
  container.appendChild(box);
}

function frame(container, opts) {
  const width = Math.max(280, opts.width || container.clientWidth || 640);
  const height = opts.height || 260;
  const m = { l: 64, r: 16, t: 12, b: 40 };
  const svg = svgEl("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (opts.title) svgEl("title", {}, svg).textContent = opts.title;
  return { svg, width, height, m, iw: width - m.l - m.r, ih: height - m.t - m.b };
}

function axes(f, xs, ys, xLabel, yLabel) {
  const g = svgEl("g", { class: "axes" }, f.svg);
  for (const t of niceTicks(ys.lo, ys.hi, 5)) {
    const y = ys.map(t);
    if (y < f.m.t - 1 || y > f.m.t + f.ih + 1) continue;
    svgEl("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: y, y2: y, class: "grid" }, g);
    svgEl("text", { x: f.m.l - 6, y: y + 4, "text-anchor": "end" }, g).textContent = fmtNum(t);
  }
  for (const t of niceTicks(xs.lo, xs.hi, Math.max(2, Math.floor(f.iw / 90)))) {
    const x = xs.map(t);
    if (x < f.m.l - 1 || x > f.m.l + f.iw + 1) continue;
    svgEl("line", { x1: x, x2: x, y1: f.m.t + f.ih, y2: f.m.t + f.ih + 4, class: "tick" }, g);
    svgEl("text", { x, y: f.m.t + f.ih + 16, "text-anchor": "middle" }, g).textContent = fmtNum(t);
  }
  svgEl("rect", { x: f.m.l, y: f.m.t, width: f.iw, height: f.ih, class: "plot-border" }, g);
  if (xLabel) svgEl("text", { x: f.m.l + f.iw / 2, y: f.height - 4, "text-anchor": "middle", class: "label" }, g).textContent = xLabel;
  if (yLabel) {
    svgEl("text", { x: 12, y: f.m.t + f.ih / 2, "text-anchor": "middle", class: "label",
      transform: `rotate(-90 12 ${f.m.t + f.ih / 2})` }, g).textContent = yLabel;
  }
}

function scale(lo, hi, a, b) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.05 || 1; lo -= d; hi += d; }
  const s = v => a + (v - lo) / (hi - lo) * (b - a);
  return { lo, hi, map: s };
}

// series: [{name, color, points: [[x, y, id?], ...], step: bool}], band: [[x0, x1, lo, hi], ...]
// A step series is drawn as best-so-far: flat until the next improvement, then
// extended to opts.xMax so the last value reaches the right edge.
function lineChart(container, series, opts) {
  opts = opts || {};
  const visible = series.filter(s => s.points && s.points.length);
  if (!visible.length && !(opts.band && opts.band.length)) return emptyNote(container, opts.empty || "No data yet.");
  clear(container);
  const f = frame(container, opts);
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  const see = (x, y) => { xlo = Math.min(xlo, x); xhi = Math.max(xhi, x); if (y !== null && isFinite(y)) { ylo = Math.min(ylo, y); yhi = Math.max(yhi, y); } };
  for (const s of visible) for (const p of s.points) see(p[0], p[1]);
  for (const b of opts.band || []) { see(b[0], b[2]); see(b[1], b[3]); }
  if (opts.xMax !== undefined && opts.xMax !== null) xhi = Math.max(xhi, opts.xMax);
  const pad = (yhi - ylo) * 0.05;
  const xs = scale(xlo, xhi, f.m.l, f.m.l + f.iw);
  const ys = scale(ylo - pad, yhi + pad, f.m.t + f.ih, f.m.t);
  axes(f, xs, ys, opts.xLabel, opts.yLabel);
  if (opts.band && opts.band.length) {
    const g = svgEl("g", { class: "band" }, f.svg);
    for (const b of opts.band) {
      const x0 = xs.map(b[0]), x1 = Math.max(x0 + 1, xs.map(b[1]));
      const y0 = ys.map(b[3]), y1 = ys.map(b[2]);
      svgEl("rect", { x: x0, y: y0 - 1, width: x1 - x0, height: Math.max(2, y1 - y0 + 2) }, g);
    }
  }
  visible.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    let d = "";
    s.points.forEach((p, k) => {
      const x = xs.map(p[0]), y = ys.map(p[1]);
      d += k === 0 ? `M${x},${y}` : (s.step ? `H${x}V${y}` : `L${x},${y}`);
    });
    if (s.step) d += `H${xs.map(xhi)}`;
    svgEl("path", { d, class: "series", stroke: color, "data-name": s.name }, f.svg);
    if (s.points.length <= 400) {
      const g = svgEl("g", { fill: color }, f.svg);
      for (const p of s.points) {
        const c = svgEl("circle", { cx: xs.map(p[0]), cy: ys.map(p[1]), r: 3, class: "pt" }, g);
        svgEl("title", {}, c).textContent = `${s.name}: ${fmtNum(p[1])} at ${opts.xLabel || "x"} ${fmtNum(p[0])}` +
          (p[2] !== undefined ? ` (program ${p[2]})` : "");
        if (opts.onPoint && p[2] !== undefined) c.addEventListener("click", () => opts.onPoint(p[2]));
      }
    }
  });
  container.appendChild(f.svg);
  if (visible.length > 1 || opts.legend) {
    const items = visible.map((s, i) => ({ name: s.name, color: s.color || PALETTE[i % PALETTE.length] }));
    if (opts.band && opts.bandLabel) items.push({ name: opts.bandLabel, color: "rgba(31,119,180,0.25)" });
    legend(container, items);
  }
}

// Horizontal bars: [{label, value, color?, title?}]
function barChart(container, bars, opts) {
  opts = opts || {};
  if (!bars.length) return emptyNote(container, opts.empty || "Nothing to show.");
  clear(container);
  const rowH = 22, labelW = Math.min(220, 12 + 7 * Math.max(...bars.map(b => String(b.label).length)));
  const width = Math.max(280, opts.width || container.clientWidth || 520);
  const height = bars.length * rowH + 10;
  const svg = svgEl("svg", { class: "chart bars", width, height, viewBox: `0 0 ${width} ${height}` });
  const max = Math.max(...bars.map(b => b.value), 1e-12);
  const iw = width - labelW - 70;
  bars.forEach((b, i) => {
    const y = 5 + i * rowH;
    svgEl("text", { x: labelW - 6, y: y + 15, "text-anchor": "end" }, svg).textContent = b.label;
    const r = svgEl("rect", { x: labelW, y: y + 3, height: rowH - 6, width: Math.max(1, iw * b.value / max),
      fill: b.color || PALETTE[i % PALETTE.length], class: "bar" }, svg);
    svgEl("title", {}, r).textContent = b.title || `${b.label}: ${fmtNum(b.value)}`;
    svgEl("text", { x: labelW + Math.max(1, iw * b.value / max) + 4, y: y + 15 }, svg).textContent =
      opts.format ? opts.format(b.value) : fmtNum(b.value);
  });
  container.appendChild(svg);
}

// MAP-Elites grid: cells [{x, y, score, id}] on an nx × ny grid, coloured by t(score).
function heatmap(container, data, opts) {
  clear(container);
  const nx = data.bins[0], ny = data.bins[1] || 1;
  const cell = Math.max(10, Math.min(48, Math.floor(((opts.width || container.clientWidth || 600) - 110) / nx)));
  const width = nx * cell + 110, height = ny * cell + 50;
  const svg = svgEl("svg", { class: "chart heatmap", width, height, viewBox: `0 0 ${width} ${height}` });
  const ox = 84, oy = 10;
  for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) {
    svgEl("rect", { x: ox + i * cell, y: oy + (ny - 1 - j) * cell, width: cell - 1, height: cell - 1, class: "cell-empty" }, svg);
  }
  for (const c of data.cells) {
    const r = svgEl("rect", { x: ox + c.x * cell, y: oy + (ny - 1 - c.y) * cell, width: cell - 1, height: cell - 1,
      fill: scoreColor(opts.t(c.score)), class: "cell" }, svg);
    svgEl("title", {}, r).textContent = `cell (${c.x}, ${c.y}): program ${c.id}, score ${fmtNum(c.score)}` +
      (c.count ? `, ${c.count} programs` : "");
    if (opts.onCell) r.addEventListener("click", () => opts.onCell(c.id));
  }
  const r = data.ranges || [];
  if (r[0]) {  // value range of each axis (cells are equal slices of it)
    svgEl("text", { x: ox, y: oy + ny * cell + 14, "text-anchor": "start" }, svg).textContent = fmtNum(r[0][0]);
    svgEl("text", { x: ox + nx * cell, y: oy + ny * cell + 14, "text-anchor": "end" }, svg).textContent = fmtNum(r[0][1]);
  }
  if (r[1]) {
    svgEl("text", { x: ox - 4, y: oy + ny * cell, "text-anchor": "end" }, svg).textContent = fmtNum(r[1][0]);
    svgEl("text", { x: ox - 4, y: oy + 10, "text-anchor": "end" }, svg).textContent = fmtNum(r[1][1]);
  }
  svgEl("text", { x: ox + nx * cell / 2, y: height - 8, "text-anchor": "middle", class: "label" }, svg).textContent = data.dims[0];
  if (data.dims[1]) svgEl("text", { x: 14, y: oy + ny * cell / 2, "text-anchor": "middle", class: "label",
    transform: `rotate(-90 14 ${oy + ny * cell / 2})` }, svg).textContent = data.dims[1];
  container.appendChild(svg);
}

// Scatter of two objectives; points on the front are drawn larger and joined.
function scatterChart(container, points, opts) {
  if (!points.length) return emptyNote(container, opts.empty || "No points.");
  clear(container);
  const f = frame(container, opts);
  const xsV = points.map(p => p.x), ysV = points.map(p => p.y);
  const xs = scale(Math.min(...xsV), Math.max(...xsV), f.m.l, f.m.l + f.iw);
  const ys = scale(Math.min(...ysV), Math.max(...ysV), f.m.t + f.ih, f.m.t);
  axes(f, xs, ys, opts.xLabel, opts.yLabel);
  const front = points.filter(p => p.front).sort((a, b) => a.x - b.x);
  if (front.length > 1) {
    svgEl("path", { d: front.map((p, i) => `${i ? "L" : "M"}${xs.map(p.x)},${ys.map(p.y)}`).join(""),
      class: "series front", stroke: "#d62728" }, f.svg);
  }
  for (const p of points) {
    const c = svgEl("circle", { cx: xs.map(p.x), cy: ys.map(p.y), r: p.front ? 5 : 2.5,
      class: p.front ? "pt front-pt" : "pt", fill: p.front ? "#d62728" : "#1f77b4" }, f.svg);
    svgEl("title", {}, c).textContent = `program ${p.id}: ${fmtNum(p.x)}, ${fmtNum(p.y)}`;
    if (opts.onPoint) c.addEventListener("click", () => opts.onPoint(p.id));
  }
  container.appendChild(f.svg);
}

window.Charts = { svgEl, fmtNum, niceTicks, scoreColor, lineChart, barChart, heatmap, scatterChart, clear, emptyNote, PALETTE };
