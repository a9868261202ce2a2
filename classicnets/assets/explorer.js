/* classicnets — the kernel-free explorer of the rendered book.
 *
 * The arithmetic below is a line-by-line port of classicnets/arithmetic.py
 * (conv_output_size, pool_output_size, trace): same shapes, parameters, MACs,
 * connections, receptive fields and the same ArchitectureError messages.
 * tests/test_browser.py compares it with Python over hundreds of random
 * settings, so change both files together.
 *
 * No libraries, no network: classicnets/explorer.py inlines this file and the
 * JSON of classicnets.specs.all_specs() into one HTML output.
 *
 * API (window.classicnetsExplorer):
 *   trace(specDict)            -> {rows, total_params, total_macs, total_connections}; throws ArchitectureError
 *   traceResult(specDict)      -> {ok, rows, totals, error} (never throws; rows so far when it fails)
 *   convOutputSize(...), poolOutputSize(...), ArchitectureError
 *   mount(rootElement, {key: {title, spec}}, options) -> draws the explorer into rootElement
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ errors

  class ArchitectureError extends Error {
    constructor(layer, message) {
      super(layer + ": " + message);
      this.name = "ArchitectureError";
      this.layer = layer;
    }
  }

  // ------------------------------------------------------------------ Python's helpers

  /** Python's a // b for integers (exact for safe integers). */
  function floorDiv(a, b) {
    const r = a % b;
    let q = (a - r) / b;
    if (r !== 0 && (r < 0) !== (b < 0)) q -= 1;
    return q;
  }

  /** Python's int(): truncates numbers. */
  function pyInt(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error("invalid literal for int(): " + String(v));
    return Math.trunc(n);
  }

  /** Python's repr() for the values a spec holds. */
  function pyRepr(v) {
    if (v === null || v === undefined) return "None";
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : fmtFloatRepr(v);
    if (typeof v === "string") {
      if (v.indexOf("'") >= 0 && v.indexOf('"') < 0) return '"' + v.replace(/\\/g, "\\\\") + '"';
      return "'" + v.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
    }
    if (Array.isArray(v)) {
      // specs come from JSON: Python's layer_from_dict turns lists into tuples
      if (v.length === 1) return "(" + pyRepr(v[0]) + ",)";
      return "(" + v.map(pyRepr).join(", ") + ")";
    }
    return String(v);
  }

  function fmtFloatRepr(x) {
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    return String(x);
  }

  /** Python's str() of an int or a pair, as in f"{layer.stride}". */
  function pyStr(v) {
    return pyRepr(v);
  }

  /** Python's format(x, "g"). */
  function fmtG(x) {
    if (typeof x !== "number") return String(x);
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0" : "0";
    const parts = x.toExponential(5).split("e");
    const exp = parseInt(parts[1], 10);
    if (exp < -4 || exp >= 6) {
      const mant = parts[0].replace(/\.?0+$/, "");
      return mant + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    }
    let s = x.toFixed(5 - exp);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  }

  /** classicnets.layers.pair: 3 -> [3, 3]; [3, 5] -> [3, 5]. */
  function pair(value) {
    if (Array.isArray(value)) {
      if (value.length !== 2) {
        throw new Error("expected an int or a pair (height, width), got " + pyRepr(value));
      }
      return [pyInt(value[0]), pyInt(value[1])];
    }
    return [pyInt(value), pyInt(value)];
  }

  function sameHW(a, b) {
    return a[0] === b[0] && a[1] === b[1];
  }

  function fmtShape(shape) {
    return shape.map(String).join("×");
  }

  function fmtHW(hw) {
    return hw[0] === hw[1] ? String(hw[0]) : hw[0] + "×" + hw[1];
  }

  function prod(xs) {
    return xs.reduce(function (a, b) { return a * b; }, 1);
  }

  // ------------------------------------------------------------------ one dimension

  function checkPositive(layer, values) {
    for (const [what, v] of values) {
      if (v < 1) {
        throw new ArchitectureError(layer, what + " must be at least 1, got " + v + ": use a positive " + what);
      }
    }
  }

  function convOutputSize(size, kernel, stride, padding, dilation, layer) {
    stride = stride === undefined ? 1 : stride;
    padding = padding === undefined ? 0 : padding;
    dilation = dilation === undefined ? 1 : dilation;
    layer = layer === undefined ? "conv" : layer;
    checkPositive(layer, [["input", size], ["kernel", kernel], ["stride", stride], ["dilation", dilation]]);
    if (padding < 0) {
      throw new ArchitectureError(layer, "padding must be 0 or more, got " + padding + ": use padding ≥ 0");
    }
    const span = dilation * (kernel - 1) + 1;
    const padded = size + 2 * padding;
    if (span > padded) {
      const what = dilation === 1 ? "kernel " + kernel
        : "dilated kernel " + span + " (" + dilation + "×(" + kernel + "−1)+1)";
      throw new ArchitectureError(layer,
        what + " is larger than its padded input " + padded + " (" + size + " + 2×" + padding + "): " +
        "lower the kernel or add padding");
    }
    return floorDiv(padded - span, stride) + 1;
  }

  function poolOutputSize(size, kernel, stride, padding, dilation, ceilMode, layer) {
    stride = stride === undefined || stride === null ? kernel : stride;
    padding = padding === undefined ? 0 : padding;
    dilation = dilation === undefined ? 1 : dilation;
    ceilMode = !!ceilMode;
    layer = layer === undefined ? "pool" : layer;
    checkPositive(layer, [["input", size], ["kernel", kernel], ["stride", stride], ["dilation", dilation]]);
    if (padding < 0) {
      throw new ArchitectureError(layer, "padding must be 0 or more, got " + padding + ": use padding ≥ 0");
    }
    if (padding > floorDiv(kernel, 2)) {
      throw new ArchitectureError(layer,
        "padding " + padding + " is more than half the kernel " + kernel + ": " +
        "use padding ≤ " + floorDiv(kernel, 2) + " or a larger kernel");
    }
    const span = dilation * (kernel - 1) + 1;
    const padded = size + 2 * padding;
    let out;
    if (ceilMode) {
      out = -floorDiv(span - padded, stride) + 1;
      if ((out - 1) * stride >= size + padding) out -= 1;
    } else {
      out = floorDiv(padded - span, stride) + 1;
    }
    if (out < 1) {
      const what = dilation === 1 ? "kernel " + kernel : "dilated kernel " + span;
      throw new ArchitectureError(layer,
        what + " is larger than its padded input " + padded + " (" + size + " + 2×" + padding + "): " +
        "lower the kernel or add padding");
    }
    return out;
  }

  // ------------------------------------------------------------------ layers (defaults of classicnets.layers)

  const DEFAULTS = {
    conv: { out_channels: 1, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true, table: null },
    pool: { op: "max", kernel: 2, stride: null, padding: 0, dilation: 1, ceil_mode: false },
    adaptive_pool: { op: "avg", output: 1 },
    act: { fn: "relu" },
    lrn: { size: 5, alpha: 1e-4, beta: 0.75, k: 2.0 },
    batchnorm: {},
    dropout: { p: 0.5 },
    flatten: { name: "flatten" },
    linear: { out_features: 1, bias: true },
    rbf: { out_features: 10 },
  };

  function withDefaults(layer) {
    const base = DEFAULTS[layer.kind];
    if (base === undefined) throw new Error("unknown layer kind " + pyRepr(layer.kind));
    const out = Object.assign({}, base);
    for (const key of Object.keys(layer)) {
      if (layer[key] !== undefined) out[key] = layer[key];
    }
    return out;
  }

  /** NetSpec.layers: features, then a flatten and the classifier if there is one. */
  function specLayers(spec) {
    const features = spec.features || [];
    const classifier = spec.classifier || [];
    const all = classifier.length ? features.concat([{ kind: "flatten", name: "flatten" }], classifier) : features;
    return all.map(withDefaults);
  }

  function convLayer(layer, shape) {
    const [c, h, w] = shape;
    const [kh, kw] = pair(layer.kernel);
    const [sh, sw] = pair(layer.stride);
    const [dh, dw] = pair(layer.dilation);
    const g = layer.groups;
    const name = layer.name;
    checkPositive(name, [["out_channels", layer.out_channels], ["groups", g]]);
    if (layer.table === null && (c % g || layer.out_channels % g)) {
      throw new ArchitectureError(name,
        "groups=" + g + " must divide both the input channels " + c + " and the output channels " +
        layer.out_channels + ": pick groups among the common divisors");
    }
    let oh, ow;
    if (typeof layer.padding === "string") {
      if (layer.padding === "valid") {
        oh = convOutputSize(h, kh, sh, 0, dh, name);
        ow = convOutputSize(w, kw, sw, 0, dw, name);
      } else if (layer.padding === "same") {
        if (sh !== 1 || sw !== 1) {
          throw new ArchitectureError(name, "padding='same' needs stride 1, got stride " + pyStr(layer.stride) + ": " +
            "use stride 1 or a number for padding");
        }
        oh = h;
        ow = w;
      } else {
        throw new ArchitectureError(name, "padding " + pyRepr(layer.padding) + " is not 'valid', 'same' or a number");
      }
    } else {
      const [ph, pw] = pair(layer.padding);
      oh = convOutputSize(h, kh, sh, ph, dh, name);
      ow = convOutputSize(w, kw, sw, pw, dw, name);
    }
    const out = [layer.out_channels, oh, ow];
    const positions = oh * ow;
    let links;
    if (layer.table !== null) {
      if (layer.table.length !== layer.out_channels) {
        throw new ArchitectureError(name, "connection table has " + layer.table.length + " rows for " +
          layer.out_channels + " output maps: give one row per map");
      }
      const bad = [];
      for (const row of layer.table) for (const i of row) if (!(0 <= i && i < c)) bad.push(i);
      if (bad.length) {
        throw new ArchitectureError(name, "connection table reads input map " + bad[0] + " but there are only " +
          c + " input maps (0…" + (c - 1) + ")");
      }
      links = layer.table.reduce(function (a, row) { return a + row.length; }, 0);
    } else {
      links = layer.out_channels * floorDiv(c, g);
    }
    const weights = links * kh * kw;
    const biases = layer.bias ? layer.out_channels : 0;
    const params = weights + biases;
    const macs = positions * weights;
    const connections = positions * params;
    let pad;
    if (typeof layer.padding === "string") {
      pad = ", pad " + layer.padding;
    } else {
      const p = pair(layer.padding);
      pad = sameHW(p, [0, 0]) ? "" : ", pad " + fmtHW(p);
    }
    const dil = sameHW([dh, dw], [1, 1]) ? "" : ", dilation " + fmtHW([dh, dw]);
    const grp = g === 1 ? "" : ", groups " + g;
    const tab = layer.table === null ? "" : ", partial (" + links + " of " + (layer.out_channels * c) + " map pairs)";
    const detail = kh + "×" + kw + ", stride " + fmtHW([sh, sw]) + pad + dil + grp + tab;
    const span = [(kh - 1) * dh + 1, (kw - 1) * dw + 1];
    return { shape: out, params, macs, connections, detail, span, stride: [sh, sw] };
  }

  function poolLayer(layer, shape) {
    const [c, h, w] = shape;
    const [kh, kw] = pair(layer.kernel);
    const [sh, sw] = pair(layer.stride === null ? layer.kernel : layer.stride);
    const [ph, pw] = pair(layer.padding);
    const [dh, dw] = pair(layer.dilation);
    if (["max", "avg", "subsample"].indexOf(layer.op) < 0) {
      throw new ArchitectureError(layer.name, "pooling op " + pyRepr(layer.op) + " is not 'max', 'avg' or 'subsample'");
    }
    if (layer.op !== "max" && !sameHW([dh, dw], [1, 1])) {
      throw new ArchitectureError(layer.name, layer.op + " pooling has no dilation: use dilation 1");
    }
    const oh = poolOutputSize(h, kh, sh, ph, dh, layer.ceil_mode, layer.name);
    const ow = poolOutputSize(w, kw, sw, pw, dw, layer.ceil_mode, layer.name);
    const subsample = layer.op === "subsample";
    const params = subsample ? 2 * c : 0;
    const perUnit = kh * kw + (subsample ? 1 : 0);
    const connections = c * oh * ow * perUnit;
    const macs = subsample ? c * oh * ow : 0;
    const pad = sameHW([ph, pw], [0, 0]) ? "" : ", pad " + fmtHW([ph, pw]);
    const dil = sameHW([dh, dw], [1, 1]) ? "" : ", dilation " + fmtHW([dh, dw]);
    const ceil = layer.ceil_mode ? ", ceil" : "";
    const detail = layer.op + " " + kh + "×" + kw + ", stride " + fmtHW([sh, sw]) + pad + dil + ceil;
    const span = [(kh - 1) * dh + 1, (kw - 1) * dw + 1];
    return { shape: [c, oh, ow], params, macs, connections, detail, span, stride: [sh, sw] };
  }

  function adaptiveWindow(n, o) {
    let best = -Infinity;
    for (let i = 0; i < o; i++) {
      best = Math.max(best, -floorDiv(-(i + 1) * n, o) - floorDiv(i * n, o));
    }
    return best;
  }

  function adaptiveLayer(layer, shape) {
    const [c, h, w] = shape;
    const [oh, ow] = pair(layer.output);
    checkPositive(layer.name, [["output", Math.min(oh, ow)]]);
    const kh = adaptiveWindow(h, oh);
    const kw = adaptiveWindow(w, ow);
    const sh = Math.max(floorDiv(h, oh), 1);
    const sw = Math.max(floorDiv(w, ow), 1);
    const detail = "adaptive " + layer.op + " → " + oh + "×" + ow;
    return { shape: [c, oh, ow], params: 0, macs: 0, connections: c * oh * ow * kh * kw, detail, span: [kh, kw], stride: [sh, sw] };
  }

  // ------------------------------------------------------------------ trace

  /** Trace as far as possible: {rows, error} where error is null or {layer, message}. */
  function tracePartial(spec) {
    const rows = [];
    try {
      traceInto(spec, rows);
      return { rows, error: null };
    } catch (e) {
      if (e instanceof ArchitectureError) return { rows, error: { layer: e.layer, message: e.message } };
      throw e;
    }
  }

  /** classicnets.layers refuses a connection table that lists an input map twice in a row
   *  when the layer is made, before any arithmetic: the same message here. */
  function checkTables(spec) {
    for (const layer of specLayers(spec)) {
      if (layer.kind !== "conv" || !layer.table) continue;
      layer.table.forEach(function (row, o) {
        const seen = new Set();
        for (const i of row) {
          if (seen.has(i)) {
            throw new ArchitectureError(layer.name, "connection table row " + o + " " + pyRepr(row) +
              " lists input map " + i + " twice: list each input map once per row");
          }
          seen.add(i);
        }
      });
    }
  }

  function traceInto(spec, rows) {
    checkTables(spec);
    let shape = (spec.input_shape || []).map(function (x) { return x; });
    if (shape.length !== 3 || Math.min.apply(null, shape) < 1) {
      throw new ArchitectureError("input", "input shape must be (channels, height, width) ≥ 1, got " + pyRepr(shape));
    }
    let rf = [1, 1];
    let jump = [1, 1];
    for (const layer of specLayers(spec)) {
      const inShape = shape;
      let params = 0, macs = 0, connections = 0;
      let detail = "";
      const spatial = shape.length === 3;
      const kind = layer.kind;
      if (kind === "conv" || kind === "pool" || kind === "adaptive_pool") {
        if (!spatial) {
          throw new ArchitectureError(layer.name, "needs a C×H×W map but gets a flat vector of " + shape[0] + ": " +
            "move it before the flatten");
        }
        const fn = kind === "conv" ? convLayer : kind === "pool" ? poolLayer : adaptiveLayer;
        const r = fn(layer, shape);
        shape = r.shape;
        params = r.params;
        macs = r.macs;
        connections = r.connections;
        detail = r.detail;
        rf = [rf[0] + (r.span[0] - 1) * jump[0], rf[1] + (r.span[1] - 1) * jump[1]];
        jump = [jump[0] * r.stride[0], jump[1] * r.stride[1]];
      } else if (kind === "flatten") {
        shape = [prod(shape)];
        detail = "to a vector";
      } else if (kind === "linear" || kind === "rbf") {
        if (spatial) {
          throw new ArchitectureError(layer.name, "needs a flat vector but gets a " + fmtShape(shape) + " map: " +
            "flatten first");
        }
        const nIn = shape[0];
        const nOut = layer.out_features;
        checkPositive(layer.name, [["out_features", nOut]]);
        if (kind === "linear") {
          params = nIn * nOut + (layer.bias ? nOut : 0);
          macs = nIn * nOut;
          connections = params;
          detail = nIn + " → " + nOut;
        } else {
          connections = macs = nIn * nOut;
          detail = nIn + " → " + nOut + ", fixed ±1 codes";
        }
        shape = [nOut];
      } else if (kind === "batchnorm") {
        params = 2 * shape[0];
        detail = "batch norm";
      } else if (kind === "lrn") {
        if (!spatial) throw new ArchitectureError(layer.name, "local response normalisation needs C×H×W maps");
        detail = "n=" + layer.size + ", α=" + fmtG(layer.alpha) + ", β=" + fmtG(layer.beta) + ", k=" + fmtG(layer.k);
      } else if (kind === "act") {
        detail = layer.fn;
      } else if (kind === "dropout") {
        detail = "p=" + fmtG(layer.p);
      } else {
        throw new ArchitectureError(layer.name, "unknown layer type " + kind);
      }
      const spatialOut = shape.length === 3;
      rows.push({
        name: layer.name, kind: kind, detail: detail, in_shape: inShape, out_shape: shape,
        params: params, macs: macs, connections: connections,
        rf: spatialOut ? rf : null, jump: spatialOut ? jump : null,
      });
    }
    return rows;
  }

  function totals(rows) {
    const sum = function (key) { return rows.reduce(function (a, r) { return a + r[key]; }, 0); };
    return { total_params: sum("params"), total_macs: sum("macs"), total_connections: sum("connections") };
  }

  /** classicnets.arithmetic.trace: throws ArchitectureError like Python. */
  function trace(spec) {
    const rows = traceInto(spec, []);
    return Object.assign({ rows: rows }, totals(rows));
  }

  /** Never throws for architecture errors: {ok, rows, total_*, error}. */
  function traceResult(spec) {
    const r = tracePartial(spec);
    return Object.assign({ ok: r.error === null, rows: r.rows, error: r.error ? r.error.message : null,
                           error_layer: r.error ? r.error.layer : null }, totals(r.rows));
  }

  // ------------------------------------------------------------------ user interface

  const SVG_NS = "http://www.w3.org/2000/svg";
  const TABLE_KINDS = ["conv", "pool", "adaptive_pool", "linear", "rbf"];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtInt(n) {
    return n.toLocaleString("en-US");
  }

  function clone(x) {
    return JSON.parse(JSON.stringify(x));
  }

  function sliderRange(field, value) {
    const v = Math.abs(value);
    if (field === "input") return [1, Math.max(64, 2 * v)];
    if (field === "kernel") return [1, Math.max(15, 2 * v)];
    if (field === "stride") return [1, Math.max(6, 2 * v)];
    return [0, Math.max(6, 2 * v + 2)]; // padding
  }

  /** One control: a range slider and a number box that stay in step. */
  function control(label, layerName, field, value, onValue) {
    const [lo, hi] = sliderRange(field, value);
    const range = el("input", { type: "range", min: lo, max: hi, step: 1, value: value,
                                "aria-label": layerName + " " + field });
    const number = el("input", { type: "number", step: 1, value: value, className: "cnx-number",
                                 "aria-label": layerName + " " + field + " (type a value)" });
    const note = el("span", { className: "cnx-note" });
    const wrap = el("label", { className: "cnx-control", "data-layer": layerName, "data-field": field },
                    [el("span", { className: label ? "cnx-label" : "cnx-label cnx-hidden", text: label || field }),
                     range, number, note]);
    function parse(text) {
      const s = String(text).trim();
      return /^[-+]?\d+$/.test(s) ? parseInt(s, 10) : null;
    }
    range.addEventListener("input", function () {
      number.value = range.value;
      onValue(parseInt(range.value, 10));
    });
    function fromNumber() {
      const v = parse(number.value);
      if (v === null) return;
      range.value = String(v);
      onValue(v);
    }
    number.addEventListener("input", fromNumber);
    number.addEventListener("change", fromNumber);
    return {
      node: wrap,
      set: function (v) { range.value = String(v); number.value = String(v); },
      note: function (text) { note.textContent = text; },
    };
  }

  // The explorer's own words, per language. Error messages stay English (they are Python's).
  const LABELS = {
    en: { network: "Network ", reset: "Reset", networkAria: "network", chartAria: "feature-map sizes",
      caption: "Bars: the height of each feature map after the input and every convolution and pooling layer " +
               "(channels×height×width above each bar); ✗ marks the layer that cannot work.",
      controls: ["layer", "kernel", "stride", "padding"], input: "input", size: "size", followsKernel: "= kernel",
      followsTitle: "a pooling stride follows its kernel until you move it",
      table: ["layer", "kind", "detail", "output", "params", "MACs", "receptive field", "jump"],
      impossible: "✗ impossible", total: "total", chartTitle: "Feature-map height after each layer (bar height ∝ H)",
      totals: function (name, variant, shape, params, macs) {
        return name + " (" + variant + "), input " + shape + ": " + params + " parameters, " + macs +
               " multiply–accumulates per image.";
      },
      failedTotals: "The rows above are the layers before the impossible one." },
    zh: { network: "网络 ", reset: "重置", networkAria: "网络", chartAria: "特征图尺寸",
      caption: "柱子：输入以及每个卷积层、池化层之后特征图的高度（柱子上方是 通道×高×宽）；✗ 标出无法工作的那一层。",
      controls: ["层", "核大小", "步幅", "填充"], input: "输入", size: "尺寸", followsKernel: "= 核大小",
      followsTitle: "在你拖动步幅滑块之前，池化层的步幅跟随其核大小",
      table: ["层", "类型", "细节", "输出", "参数量", "乘加次数", "感受野", "跳距"],
      impossible: "✗ 无法工作", total: "合计", chartTitle: "每一层之后特征图的高度（柱高 ∝ H）",
      totals: function (name, variant, shape, params, macs) {
        return name + "（" + variant + "），输入 " + shape + "：参数 " + params + " 个，每张图像 " + macs + " 次乘加。";
      },
      failedTotals: "上面各行是无法工作的那一层之前的各层。" },
  };

  /** ``options.lang``, else the page's ``<html lang>``: "zh…" gives Chinese, anything else English. */
  function labelsFor(lang) {
    if (!lang && typeof document !== "undefined") lang = document.documentElement.lang;
    return String(lang || "en").toLowerCase().indexOf("zh") === 0 ? LABELS.zh : LABELS.en;
  }

  function mount(root, specs, options) {
    options = options || {};
    const L = labelsFor(options.lang);
    const keys = Object.keys(specs);
    let key = options.initial && specs[options.initial] ? options.initial : keys[0];
    let spec = clone(specs[key].spec);
    root.classList.add("cnx-root");
    root.textContent = "";

    const select = el("select", { className: "cnx-net", "aria-label": L.networkAria },
      keys.map(function (k) { return el("option", { value: k, text: specs[k].title }); }));
    select.value = key;
    const reset = el("button", { type: "button", className: "cnx-reset", text: L.reset });
    const header = el("div", { className: "cnx-header" }, [el("label", {}, [L.network, select]), reset]);
    const controls = el("div", { className: "cnx-controls" });
    const message = el("div", { className: "cnx-message", role: "status", "aria-live": "polite" });
    const chart = svg("svg", { class: "cnx-chart", role: "img", "aria-label": L.chartAria });
    const table = el("table", { className: "cnx-table" });
    const totalsLine = el("p", { className: "cnx-totals" });
    root.appendChild(header);
    root.appendChild(controls);
    root.appendChild(message);
    root.appendChild(el("div", { className: "cnx-chart-wrap" }, [chart]));
    root.appendChild(el("p", { className: "cnx-caption", text: L.caption }));
    root.appendChild(table);
    root.appendChild(totalsLine);

    let widgets = {};

    function layerByName(name) {
      for (const l of spec.features.concat(spec.classifier || [])) if (l.name === name) return l;
      return null;
    }

    function buildControls() {
      controls.textContent = "";
      widgets = {};
      const head = el("div", { className: "cnx-row cnx-head" },
        L.controls.map(function (f) { return el("span", { text: f }); }));
      controls.appendChild(head);
      const inputRow = el("div", { className: "cnx-row", "data-layer": "input" },
        [el("span", { className: "cnx-layer-name", text: L.input })]);
      widgets["input/size"] = control(L.size, "input", "size", spec.input_shape[1], function (v) {
        spec.input_shape = [spec.input_shape[0], v, v];
        redraw();
      });
      widgets["input/size"].node.classList.add("cnx-wide");
      inputRow.appendChild(widgets["input/size"].node);
      controls.appendChild(inputRow);
      for (const layer of spec.features) {
        if (layer.kind !== "conv" && layer.kind !== "pool") continue;
        const row = el("div", { className: "cnx-row", "data-layer": layer.name },
          [el("span", { className: "cnx-layer-name", text: layer.name, title: layer.kind })]);
        for (const field of ["kernel", "stride", "padding"]) {
          let value = layer[field];
          if (field === "stride" && layer.kind === "pool" && (value === null || value === undefined)) value = layer.kernel;
          const c = control(null, layer.name, field, Array.isArray(value) ? value[0] : value, function (v) {
            layerByName(layer.name)[field] = v;
            redraw();
          });
          widgets[layer.name + "/" + field] = c;
          row.appendChild(c.node);
        }
        controls.appendChild(row);
      }
    }

    function updateNotes() {
      for (const layer of spec.features) {
        if (layer.kind !== "pool") continue;
        const w = widgets[layer.name + "/stride"];
        if (!w) continue;
        if (layer.stride === null || layer.stride === undefined) {
          w.set(Array.isArray(layer.kernel) ? layer.kernel[0] : layer.kernel);
          w.note(L.followsKernel);
          w.node.title = L.followsTitle;
        } else {
          w.note("");
          w.node.removeAttribute("title");
        }
      }
    }

    function drawTable(result) {
      table.textContent = "";
      const head = L.table;
      table.appendChild(el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", { text: h }); }))]));
      const body = el("tbody");
      const input = spec.input_shape;
      body.appendChild(el("tr", { "data-layer": "input" }, [L.input, "", "", fmtShape(input), "", "", "1", "1"]
        .map(function (t) { return el("td", { text: t }); })));
      for (const r of result.rows) {
        if (TABLE_KINDS.indexOf(r.kind) < 0) continue;
        const cells = [r.name, r.kind, r.detail, fmtShape(r.out_shape), fmtInt(r.params), fmtInt(r.macs),
          r.rf ? fmtHW(r.rf) : "", r.jump ? fmtHW(r.jump) : ""];
        body.appendChild(el("tr", { "data-layer": r.name }, cells.map(function (t) { return el("td", { text: t }); })));
      }
      if (result.error) {
        const tr = el("tr", { "data-layer": result.error_layer, className: "cnx-failed" });
        tr.appendChild(el("td", { text: result.error_layer }));
        tr.appendChild(el("td", { text: L.impossible, colspan: "7" }));
        body.appendChild(tr);
      } else {
        body.appendChild(el("tr", { className: "cnx-total" }, [L.total, "", "", "", fmtInt(result.total_params),
          fmtInt(result.total_macs), "", ""].map(function (t) { return el("td", { text: t }); })));
      }
      table.appendChild(body);
    }

    function drawChart(result) {
      while (chart.firstChild) chart.removeChild(chart.firstChild);
      const bars = [{ name: "input", shape: spec.input_shape }];
      for (const r of result.rows) {
        if (r.out_shape.length === 3 && (r.kind === "conv" || r.kind === "pool" || r.kind === "adaptive_pool")) {
          bars.push({ name: r.name, shape: r.out_shape });
        }
      }
      if (result.error) bars.push({ name: result.error_layer, shape: null });
      const barW = 46, gap = 16, top = 22, plotH = 150, bottom = 34, left = 8;
      const width = left * 2 + bars.length * barW + (bars.length - 1) * gap;
      const height = top + plotH + bottom;
      chart.setAttribute("viewBox", "0 0 " + width + " " + height);
      chart.setAttribute("width", String(width));
      chart.setAttribute("height", String(height));
      const maxSide = Math.max.apply(null, bars.filter(function (b) { return b.shape; })
        .map(function (b) { return Math.max(b.shape[1], b.shape[2]); }).concat([1]));
      chart.appendChild(svg("title", {}, L.chartTitle));
      bars.forEach(function (b, i) {
        const x = left + i * (barW + gap);
        const g = svg("g", { class: b.shape ? "cnx-bar" : "cnx-bar cnx-bar-failed", "data-layer": b.name });
        if (b.shape) {
          const h = Math.max(2, Math.round(plotH * b.shape[1] / maxSide));
          g.appendChild(svg("rect", { x: x, y: top + plotH - h, width: barW, height: h, rx: 2 }));
          g.appendChild(svg("text", { x: x + barW / 2, y: top + plotH - h - 6, "text-anchor": "middle", class: "cnx-bar-value" },
            b.shape[0] + "×" + b.shape[1] + "×" + b.shape[2]));
        } else {
          g.appendChild(svg("rect", { x: x, y: top, width: barW, height: plotH, rx: 2 }));
          g.appendChild(svg("text", { x: x + barW / 2, y: top + plotH / 2, "text-anchor": "middle", class: "cnx-bar-value" }, "✗"));
        }
        g.appendChild(svg("text", { x: x + barW / 2, y: top + plotH + 16, "text-anchor": "middle", class: "cnx-bar-label" }, b.name));
        chart.appendChild(g);
      });
    }

    function redraw() {
      updateNotes();
      const result = traceResult(spec);
      root.setAttribute("data-state", result.ok ? "ok" : "error");
      if (result.ok) {
        message.textContent = "";
        message.classList.remove("cnx-error");
        totalsLine.textContent = L.totals(spec.name, spec.variant, fmtShape(spec.input_shape),
          fmtInt(result.total_params), fmtInt(result.total_macs));
      } else {
        message.textContent = result.error;
        message.classList.add("cnx-error");
        totalsLine.textContent = L.failedTotals;
      }
      drawChart(result);
      drawTable(result);
      root.dispatchEvent(new CustomEvent("cnx-redraw", { detail: result }));
    }

    function load(k) {
      key = k;
      spec = clone(specs[k].spec);
      select.value = k;
      buildControls();
      redraw();
    }

    select.addEventListener("change", function () { load(select.value); });
    reset.addEventListener("click", function () { load(key); });
    load(key);
    const api = { load: load, spec: function () { return clone(spec); }, redraw: redraw, lang: L === LABELS.zh ? "zh" : "en" };
    root.classicnetsExplorer = api;
    return api;
  }

  const api = {
    version: 1,
    ArchitectureError: ArchitectureError,
    convOutputSize: convOutputSize,
    poolOutputSize: poolOutputSize,
    trace: trace,
    traceResult: traceResult,
    fmtG: fmtG,
    LABELS: LABELS,
    mount: mount,
  };
  if (typeof window !== "undefined") window.classicnetsExplorer = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})();
