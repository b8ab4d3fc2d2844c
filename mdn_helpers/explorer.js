// The pi_bias / std_bias explorer, in the browser: one source for the notebook
// widget (anywidget's `render`) and the stand-alone page (`mountPage`).
//
// Python (mdn_helpers/explorer.py) hands over the model's mixture on a grid of
// g values of x, unbiased: log-weights (g, k), means (g, k), log-scales before
// any floor (g, k), and the floor eps per component (k,) or none. Here Graves'
// biases are applied exactly as mdn_helpers.mixture.Mixture.biased and .floored
// do: log pi = log_softmax(logits * (1 + pi_bias)), log sigma = log_sigma -
// std_bias, then log sigma = logaddexp(log sigma, log eps) where eps > 0.
// Samples are drawn by the Gumbel-max trick with noise drawn once from a seeded
// generator (mulberry32), so every slider position reuses the same random
// numbers and points glide instead of jumping.

const PX_PER_PT = 100 / 72;  // the figure is drawn at 100 dpi (matplotlib's figure.dpi in STYLE)
const FONT = '"DejaVu Sans", "Bitstream Vera Sans", Verdana, Arial, Helvetica, sans-serif';

// --- data --------------------------------------------------------------------------------------

function decodeFloat32(name, b64, length) {
  if (typeof b64 !== "string") throw new Error(`spec.${name} must be a base64 string`);
  const bin = atob(b64);
  if (bin.length !== 4 * length) {
    throw new Error(`spec.${name} holds ${bin.length / 4} float32 values, expected ${length}`);
  }
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = view.getFloat32(4 * i, true);
    if (!Number.isFinite(out[i])) throw new Error(`spec.${name} has a non-finite value at ${i}`);
  }
  return out;
}

// mulberry32: a small seeded 32-bit generator; uniforms strictly inside (0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

// Gumbel noise (n, k) and standard normals (n,) from one seeded stream (Box-Muller).
function drawNoise(seed, n, k) {
  const rand = mulberry32(seed);
  const gumbel = new Float64Array(n * k);
  for (let i = 0; i < n * k; i++) gumbel[i] = -Math.log(-Math.log(rand()));
  const normal = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rand())), t = 2 * Math.PI * rand();
    normal[i] = r * Math.cos(t);
    if (i + 1 < n) normal[i + 1] = r * Math.sin(t);
  }
  return { gumbel, normal };
}

// The spec (a plain object, see explorer.py's `explorer_spec`) checked and decoded.
export function prepare(spec) {
  if (!spec || typeof spec !== "object") throw new Error("the explorer got no data (spec is empty)");
  const { g, k, n, seed } = spec;
  for (const [name, v] of [["g", g], ["k", k], ["n", n]]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`spec.${name} must be a positive integer, got ${v}`);
  }
  const st = {
    spec, g, k, n,
    x: decodeFloat32("x", spec.x, g),
    logits: decodeFloat32("log_pi", spec.log_pi, g * k),
    mu: decodeFloat32("mu", spec.mu, g * k),
    logSigma: decodeFloat32("log_sigma", spec.log_sigma, g * k),
    logEps: null,
    dataX: null, dataY: null,
  };
  if (spec.eps !== null && spec.eps !== undefined) {
    if (!Array.isArray(spec.eps) || spec.eps.length !== k) throw new Error(`spec.eps must hold ${k} numbers`);
    st.logEps = Float64Array.from(spec.eps, (e) => Math.log(e));  // log 0 = -inf: no floor for that component
  }
  if (spec.data_n) {
    st.dataX = decodeFloat32("data_x", spec.data_x, spec.data_n);
    st.dataY = decodeFloat32("data_y", spec.data_y, spec.data_n);
  }
  // Sample i is drawn at grid point floor(i * g / n): the grid's x values, evenly.
  st.index = new Int32Array(n);
  for (let i = 0; i < n; i++) st.index[i] = Math.floor((i * g) / n);
  st.sampleX = Float64Array.from(st.index, (r) => st.x[r]);
  Object.assign(st, drawNoise(seed >>> 0, n, k));
  st.logPiB = new Float64Array(g * k);
  st.logSigmaB = new Float64Array(g * k);
  st.y = new Float64Array(n);
  return st;
}

// Graves' biases on the whole grid, into st.logPiB and st.logSigmaB (g * k, row-major).
export function applyBias(st, piBias, stdBias) {
  const { g, k, logits, logSigma, logEps, logPiB, logSigmaB } = st;
  const a = 1 + piBias;
  for (let r = 0; r < g; r++) {
    const o = r * k;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[o + j] * a);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[o + j] * a - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < k; j++) {
      logPiB[o + j] = logits[o + j] * a - lse;
      let ls = logSigma[o + j] - stdBias;
      if (logEps !== null && logEps[j] > -Infinity) {
        const hi = Math.max(ls, logEps[j]), lo = Math.min(ls, logEps[j]);
        ls = hi + Math.log1p(Math.exp(lo - hi));
      }
      logSigmaB[o + j] = ls;
    }
  }
}

// One draw per entry of `index` (grid rows) from the biased mixture, with the given noise.
function sampleRows(st, index, gumbel, normal, out) {
  const { k, mu, logPiB, logSigmaB } = st;
  for (let i = 0; i < index.length; i++) {
    const o = index[i] * k, gi = i * k;
    let best = 0, bestV = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = logPiB[o + j] + gumbel[gi + j];
      if (v > bestV) { bestV = v; best = j; }
    }
    out[i] = mu[o + best] + Math.exp(logSigmaB[o + best]) * normal[i];
  }
  return out;
}

// --- drawing (the package's matplotlib style: STYLE and COLORS in mdn_helpers/style.py) -------------

function niceTicks(lo, hi, maxTicks = 9) {
  const span = hi - lo;
  for (const e of [Math.floor(Math.log10(span / maxTicks)), Math.floor(Math.log10(span / maxTicks)) + 1]) {
    for (const m of [1, 2, 2.5, 5, 10]) {
      const step = m * Math.pow(10, e);
      if (span / step <= maxTicks - 1) {
        const ticks = [];
        for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * span; t += step) ticks.push(t);
        return { ticks, step };
      }
    }
  }
  return { ticks: [lo, hi], step: span };
}

function tickLabel(t, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const s = Math.abs(t) < step * 1e-9 ? (0).toFixed(digits) : t.toFixed(digits);
  return s.replace("-", "\u2212");  // matplotlib's minus sign
}

function rgba(hex, alpha) {
  const v = parseInt(hex.slice(1), 16);
  return `rgba(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255}, ${alpha})`;
}

function layout(st, width, height) {
  const s = st.spec.style;
  const pt = (v) => v * PX_PER_PT;
  const L = { width, height, pt, s, font: (size) => `${pt(size)}px ${FONT}` };
  L.left = Math.round(pt(s.labelsize) + pt(s.ticksize) * 2.4 + pt(3.5) * 2 + 12);
  L.right = width - 14;
  L.top = Math.round(pt(s.titlesize) * 1.9 + 4);
  L.bottom = height - Math.round(pt(s.labelsize) * 1.3 + pt(s.ticksize) * 1.3 + pt(3.5) * 2 + 8);
  const [x0, x1] = st.spec.xlim, [y0, y1] = st.spec.ylim;
  L.sx = (x) => L.left + ((x - x0) / (x1 - x0)) * (L.right - L.left);
  L.sy = (y) => L.bottom - ((y - y0) / (y1 - y0)) * (L.bottom - L.top);
  return L;
}

function points(ctx, xs, ys, n, L, r) {
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const px = L.sx(xs[i]), py = L.sy(ys[i]);
    ctx.moveTo(px + r, py);
    ctx.arc(px, py, r, 0, 2 * Math.PI);
  }
  ctx.fill();
}

// What does not move with the sliders: background, grid, axes, ticks, labels, the data.
function drawStatic(ctx, st, L) {
  const { spec } = st, s = L.s, c = spec.colors;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, L.width, L.height);
  const xt = niceTicks(...spec.xlim), yt = niceTicks(...spec.ylim);
  ctx.strokeStyle = rgba("#b0b0b0", s.grid_alpha);
  ctx.lineWidth = L.pt(0.8);
  ctx.beginPath();
  for (const t of xt.ticks) { const p = Math.round(L.sx(t)) + 0.5; ctx.moveTo(p, L.top); ctx.lineTo(p, L.bottom); }
  for (const t of yt.ticks) { const p = Math.round(L.sy(t)) + 0.5; ctx.moveTo(L.left, p); ctx.lineTo(L.right, p); }
  ctx.stroke();
  if (st.dataX) {  // one circle at a time, as matplotlib does: overlaps darken
    ctx.fillStyle = rgba(c.data, 0.3);
    ctx.save();
    ctx.beginPath(); ctx.rect(L.left, L.top, L.right - L.left, L.bottom - L.top); ctx.clip();
    const r = (Math.sqrt(3) * L.pt(1)) / 2;
    for (let i = 0; i < st.dataX.length; i++) {
      ctx.beginPath(); ctx.arc(L.sx(st.dataX[i]), L.sy(st.dataY[i]), r, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.restore();
  }
  // spines (left, bottom), ticks outward, tick labels, axis labels
  ctx.strokeStyle = "#000000";
  ctx.fillStyle = "#000000";
  ctx.lineWidth = L.pt(0.8);
  ctx.beginPath();
  ctx.moveTo(L.left, L.top); ctx.lineTo(L.left, L.bottom + 0.5); ctx.lineTo(L.right, L.bottom + 0.5);
  const tick = L.pt(3.5), pad = L.pt(3.5);
  for (const t of xt.ticks) { const p = Math.round(L.sx(t)) + 0.5; ctx.moveTo(p, L.bottom); ctx.lineTo(p, L.bottom + tick); }
  for (const t of yt.ticks) { const p = Math.round(L.sy(t)) + 0.5; ctx.moveTo(L.left, p); ctx.lineTo(L.left - tick, p); }
  ctx.stroke();
  ctx.font = L.font(s.ticksize);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of xt.ticks) ctx.fillText(tickLabel(t, xt.step), L.sx(t), L.bottom + tick + pad);
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const t of yt.ticks) ctx.fillText(tickLabel(t, yt.step), L.left - tick - pad, L.sy(t));
  ctx.font = L.font(s.labelsize);
  ctx.textAlign = "center"; ctx.textBaseline = "bottom";
  ctx.fillText(spec.xlabel, (L.left + L.right) / 2, L.height - 4);
  ctx.save();
  ctx.translate(4 + L.pt(s.labelsize), (L.top + L.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(spec.ylabel, 0, 0);
  ctx.restore();
}

function drawLegend(ctx, st, L) {
  const { spec } = st, c = spec.colors, s = L.s;
  const entries = [];
  if (st.dataX) entries.push({ label: "data", color: rgba(c.data, 0.3), shape: "o", size: 3 });
  entries.push({ label: spec.means_label, color: c.means, shape: "s", size: 6 });
  entries.push({ label: "samples", color: rgba(c.model, 0.8), shape: "o", size: 4 });
  const fs = L.pt(s.legendsize), scale = spec.markerscale;
  ctx.font = L.font(s.legendsize);
  ctx.textAlign = "left"; ctx.textBaseline = "middle";
  let y = L.top + fs * 0.9;
  for (const e of entries) {
    const d = Math.sqrt(e.size) * L.pt(1) * scale, cx = L.left + fs * 1.4;
    ctx.fillStyle = e.color;
    if (e.shape === "s") ctx.fillRect(cx - d / 2, y - d / 2, d, d);
    else { ctx.beginPath(); ctx.arc(cx, y, d / 2, 0, 2 * Math.PI); ctx.fill(); }
    ctx.fillStyle = "#000000";
    ctx.fillText(e.label, cx + fs * 1.2, y);
    y += fs * 1.45;
  }
}

// --- one explorer on a canvas ------------------------------------------------------------------------

// Mount an explorer for `spec` in `container`; returns its API (also container.mdnExplorer).
export function createExplorer(container, spec) {
  const st = prepare(spec);
  const width = spec.width, height = spec.height;
  const canvas = document.createElement("canvas");
  canvas.className = "mdn-bias-canvas";
  canvas.setAttribute("data-mdn-explorer", "canvas");
  canvas.setAttribute("role", "img");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  container.appendChild(canvas);
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const L = layout(st, width, height);
  const background = document.createElement("canvas");
  background.width = canvas.width; background.height = canvas.height;
  const bctx = background.getContext("2d");
  bctx.scale(dpr, dpr);
  drawStatic(bctx, st, L);
  // the component means at about 150 columns of the grid
  const stride = Math.max(1, Math.ceil(st.g / spec.mean_columns));
  const meanSide = Math.sqrt(6) * L.pt(1);
  const api = { canvas, timings: [], piBias: 0, stdBias: 0, grid: Array.from(st.x), k: st.k };

  api.draw = function (piBias, stdBias) {
    applyBias(st, piBias, stdBias);
    sampleRows(st, st.index, st.gumbel, st.normal, st.y);
    ctx.drawImage(background, 0, 0, width, height);
    ctx.save();
    ctx.beginPath(); ctx.rect(L.left, L.top, L.right - L.left, L.bottom - L.top); ctx.clip();
    // samples, then the means above them (zorder 3 in the matplotlib figure)
    ctx.fillStyle = rgba(spec.colors.model, 0.8);
    points(ctx, st.sampleX, st.y, st.n, L, Math.sqrt(4) * L.pt(1) / 2);
    ctx.fillStyle = spec.colors.means;
    for (let r = 0; r < st.g; r += stride) {
      const px = L.sx(st.x[r]) - meanSide / 2;
      for (let j = 0; j < st.k; j++) {
        ctx.globalAlpha = Math.min(1, Math.sqrt(Math.exp(st.logPiB[r * st.k + j])));
        ctx.fillRect(px, L.sy(st.mu[r * st.k + j]) - meanSide / 2, meanSide, meanSide);
      }
    }
    ctx.globalAlpha = 1;
    ctx.restore();
    drawLegend(ctx, st, L);
    ctx.fillStyle = "#000000";
    ctx.font = L.font(L.s.titlesize);
    ctx.textAlign = "center"; ctx.textBaseline = "alphabetic";
    ctx.fillText(`${spec.title} with pi_bias = ${piBias.toFixed(2)}, std_bias = ${stdBias.toFixed(2)}`,
                 (L.left + L.right) / 2, L.top - L.pt(L.s.titlesize) * 0.6);
    api.piBias = piBias; api.stdBias = stdBias;
  };
  // Redraw for new biases; records the milliseconds from `t0` (the input event) to the end of the draw.
  api.update = function (piBias, stdBias, t0 = performance.now()) {
    api.draw(Number(piBias), Number(stdBias));
    api.lastDrawEnd = performance.now();
    const ms = api.lastDrawEnd - t0;
    api.timings.push(ms);
    return ms;
  };
  // For tests: the biased weights, means and scales at every grid point (g * k, row-major).
  api.params = function (piBias, stdBias) {
    applyBias(st, piBias, stdBias);
    const out = { pi: Array.from(st.logPiB, Math.exp), mu: Array.from(st.mu), sigma: Array.from(st.logSigmaB, Math.exp) };
    applyBias(st, api.piBias, api.stdBias);
    return out;
  };
  // For tests: `count` draws at grid point `row` with fresh noise from `seed` (the explorer's sampler).
  api.sampleAt = function (row, piBias, stdBias, count, seed) {
    applyBias(st, piBias, stdBias);
    const { gumbel, normal } = drawNoise(seed >>> 0, count, st.k);
    const y = sampleRows(st, new Int32Array(count).fill(row), gumbel, normal, new Float64Array(count));
    applyBias(st, api.piBias, api.stdBias);
    return Array.from(y);
  };
  // For tests: the current samples (x, y).
  api.samples = () => ({ x: Array.from(st.index, (r) => st.x[r]), y: Array.from(st.y) });
  api.draw(0, 0);
  container.mdnExplorer = api;
  canvas.mdnExplorer = api;
  return api;
}

function showError(el, err) {
  const box = document.createElement("pre");
  box.className = "mdn-explorer-error";
  box.style.color = "#b00020";
  box.textContent = `The bias explorer could not draw: ${err && err.message ? err.message : err}`;
  el.appendChild(box);
}

// --- the notebook widget (anywidget) -------------------------------------------------------------------

function render({ model, el }) {
  el.classList.add("mdn-bias-explorer");
  let api;
  try {
    api = createExplorer(el, model.get("spec"));
    api.update(model.get("pi_bias"), model.get("std_bias"));
  } catch (err) {
    showError(el, err);
    return;
  }
  const redraw = () => api.update(model.get("pi_bias"), model.get("std_bias"));
  model.on("change:pi_bias", redraw);
  model.on("change:std_bias", redraw);
  return () => {
    model.off("change:pi_bias", redraw);
    model.off("change:std_bias", redraw);
  };
}

// --- the stand-alone page ----------------------------------------------------------------------------

// Wire the page's range inputs #pi_bias and #std_bias (read-outs #pi_bias-value, #std_bias-value) to an
// explorer drawn in `root` from the JSON in <script id="mdn-explorer-spec">.
export function mountPage(root) {
  let api;
  try {
    api = createExplorer(root, JSON.parse(document.getElementById("mdn-explorer-spec").textContent));
  } catch (err) {
    showError(root, err);
    throw err;
  }
  const pi = document.getElementById("pi_bias"), sd = document.getElementById("std_bias");
  const show = () => {
    document.getElementById("pi_bias-value").textContent = Number(pi.value).toFixed(1);
    document.getElementById("std_bias-value").textContent = Number(sd.value).toFixed(1);
  };
  const onInput = () => { const t0 = performance.now(); show(); api.update(pi.value, sd.value, t0); };
  pi.addEventListener("input", onInput);
  sd.addEventListener("input", onInput);
  show();
  api.update(pi.value, sd.value);
  window.mdnExplorer = api;
  return api;
}

export default { render };
