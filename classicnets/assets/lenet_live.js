/* classicnets — a trained LeNet5 running in the reader's browser.
 *
 * classicnets/live.py inlines this file, the networks' specs with each layer's geometry from
 * classicnets.arithmetic.trace (output shape, receptive field, jump), the trained weights (float16, base85)
 * and a strip of Fashion-MNIST test images into one HTML output. No libraries, no network.
 *
 * The forward pass follows the spec's layers (conv, act, pool, flatten, linear) in float64 and is checked
 * against PyTorch on the same stored weights: tests/test_live.py under node, tests/test_browser_live.py in
 * Chromium (logits within 1e-4, same predicted class for every embedded image).
 *
 * API (window.classicnetsLive):
 *   bytesFromBase64(b64) -> Uint8Array;  bytesFromBase85(text, size) -> Uint8Array
 *   float16(bytes) -> Float32Array (little-endian IEEE half floats, exact)
 *   unpackNetwork({tensors, data}) -> {"conv1.weight": {shape, data}, ...}
 *   decodeImage(b64, size) -> Uint8Array (run-length decoding of classicnets.export.encode_image)
 *   prepare(pixels01 (H×W, 0..1), {pad, mean, std}) -> Float64Array of the padded, normalised input
 *   downsample(rgba, width, height, factor) -> Float64Array: block means of the red channel, 0..1
 *   forward(spec, params, x) -> {outputs: [{name, kind, shape, data}], logits, probs}
 *   receptiveFields(geometry, spec) -> {layer: {rf, jump, start, shape}} for the conv and pool layers
 *   unitBox(field, i, j, inputHW) -> {top, left, height, width} (clipped to the input)
 *   mount(root, payload, options) -> draws the page's network viewer into root
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ decoding

  function bytesFromBase64(b64) {
    if (typeof atob === "function") {
      const s = atob(b64);
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
      return out;
    }
    return new Uint8Array(Buffer.from(b64, "base64"));
  }

  /** IEEE 754 half -> number (exact). */
  function halfToNumber(h) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) return sign * frac * Math.pow(2, -24);
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * (1 + frac / 1024) * Math.pow(2, exp - 15);
  }

  // Python's base64.b85encode alphabet, with '<', '>', '&' written as ',', '.', ':' (classicnets.export.b85_text)
  const B85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%:()*+-;,=.?@^_`{|}~";
  const B85_VALUE = {};
  for (let i = 0; i < B85.length; i++) B85_VALUE[B85[i]] = i;

  function bytesFromBase85(text, size) {
    if (text.length % 5) throw new Error("base85 text of " + text.length + " characters is not whole groups of 5");
    const out = new Uint8Array(text.length / 5 * 4);
    for (let g = 0; g < text.length / 5; g++) {
      let v = 0;
      for (let k = 0; k < 5; k++) {
        const d = B85_VALUE[text[5 * g + k]];
        if (d === undefined) throw new Error("not a base85 character: " + JSON.stringify(text[5 * g + k]));
        v = v * 85 + d;
      }
      for (let k = 3; k >= 0; k--) { out[4 * g + k] = v % 256; v = Math.floor(v / 256); }
    }
    return out.subarray(0, size);
  }

  function float16(bytes) {
    const out = new Float32Array(bytes.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = halfToNumber(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    return out;
  }

  function unpackNetwork(entry) {
    const values = float16(bytesFromBase85(entry.data, entry.bytes));
    const params = {};
    let start = 0;
    for (const t of entry.tensors) {
      const n = t.shape.reduce(function (a, b) { return a * b; }, 1);
      params[t.name] = { shape: t.shape, data: values.subarray(start, start + n) };
      start += n;
    }
    if (start !== values.length) throw new Error("weights blob holds " + values.length + " numbers, tensors list " + start);
    return params;
  }

  function decodeImage(b64, size) {
    const blob = bytesFromBase64(b64);
    const out = new Uint8Array(size);
    let i = 0, k = 0;
    while (i < blob.length) {
      const zeros = blob[i], n = blob[i + 1];
      k += zeros;
      for (let j = 0; j < n; j++) out[k++] = blob[i + 2 + j];
      i += 2 + n;
    }
    if (k !== size) throw new Error("an embedded image decodes to " + k + " pixels, expected " + size);
    return out;
  }

  // ------------------------------------------------------------------ input preparation

  /** As classicnets.data: 0..1 pixels, zero padding (the background), then (x − mean) / std. */
  function prepare(pixels, h, w, input) {
    const pad = input.pad, H = h + 2 * pad, W = w + 2 * pad;
    const out = new Float64Array(H * W).fill((0 - input.mean) / input.std);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[(y + pad) * W + x + pad] = (pixels[y * w + x] - input.mean) / input.std;
    }
    return out;
  }

  /** Mean of each factor×factor block of the red channel of RGBA pixels, on the 0..1 scale. */
  function downsample(rgba, width, height, factor) {
    const w = Math.floor(width / factor), h = Math.floor(height / factor);
    const out = new Float64Array(w * h);
    for (let y = 0; y < h * factor; y++) {
      for (let x = 0; x < w * factor; x++) out[Math.floor(y / factor) * w + Math.floor(x / factor)] += rgba[(y * width + x) * 4];
    }
    for (let i = 0; i < out.length; i++) out[i] /= 255 * factor * factor;
    return out;
  }

  // ------------------------------------------------------------------ layers

  function pair(v) { return Array.isArray(v) ? [v[0], v[1]] : [v, v]; }

  function unsupported(layer, what) {
    return new Error(layer.name + ": the in-browser forward pass does not implement " + what);
  }

  function conv(layer, p, x, shape) {
    const [c, h, w] = shape;
    const wt = p[layer.name + ".weight"], b = p[layer.name + ".bias"];
    const [o, ci, kh, kw] = wt.shape;
    const [sh, sw] = pair(layer.stride === undefined ? 1 : layer.stride);
    const [ph, pw] = pair(layer.padding === undefined ? 0 : layer.padding);
    if ((layer.groups || 1) !== 1 || layer.table || (layer.dilation && pair(layer.dilation).join() !== "1,1")) {
      throw unsupported(layer, "groups, dilation or connection tables");
    }
    if (ci !== c) throw new Error(layer.name + ": weights expect " + ci + " input maps, got " + c);
    const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
    const out = new Float64Array(o * oh * ow);
    for (let m = 0; m < o; m++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let s = b ? b.data[m] : 0;
          for (let i = 0; i < c; i++) {
            for (let u = 0; u < kh; u++) {
              const iy = y * sh + u - ph;
              if (iy < 0 || iy >= h) continue;
              const row = (i * h + iy) * w, krow = ((m * c + i) * kh + u) * kw;
              for (let v = 0; v < kw; v++) {
                const ix = xx * sw + v - pw;
                if (ix >= 0 && ix < w) s += wt.data[krow + v] * x[row + ix];
              }
            }
          }
          out[(m * oh + y) * ow + xx] = s;
        }
      }
    }
    return { data: out, shape: [o, oh, ow] };
  }

  function pool(layer, x, shape) {
    const [c, h, w] = shape;
    const [kh, kw] = pair(layer.kernel);
    const [sh, sw] = pair(layer.stride === null || layer.stride === undefined ? layer.kernel : layer.stride);
    if (pair(layer.padding || 0).join() !== "0,0" || layer.ceil_mode || (layer.dilation && pair(layer.dilation).join() !== "1,1")) {
      throw unsupported(layer, "pooling padding, dilation or ceil_mode");
    }
    if (layer.op !== "max" && layer.op !== "avg") throw unsupported(layer, layer.op + " pooling");
    const oh = Math.floor((h - kh) / sh) + 1, ow = Math.floor((w - kw) / sw) + 1;
    const out = new Float64Array(c * oh * ow);
    for (let m = 0; m < c; m++) {
      for (let y = 0; y < oh; y++) {
        for (let xx = 0; xx < ow; xx++) {
          let best = -Infinity, sum = 0;
          for (let u = 0; u < kh; u++) {
            for (let v = 0; v < kw; v++) {
              const val = x[(m * h + y * sh + u) * w + xx * sw + v];
              sum += val;
              if (val > best) best = val;
            }
          }
          out[(m * oh + y) * ow + xx] = layer.op === "max" ? best : sum / (kh * kw);
        }
      }
    }
    return { data: out, shape: [c, oh, ow] };
  }

  function act(layer, x) {
    const f = layer.fn === "tanh" ? Math.tanh : layer.fn === "relu" ? function (v) { return v > 0 ? v : 0; } : null;
    if (!f) throw unsupported(layer, "activation " + layer.fn);
    return x.map(f);
  }

  function linear(layer, p, x) {
    const wt = p[layer.name + ".weight"], b = p[layer.name + ".bias"];
    const [o, n] = wt.shape;
    if (n !== x.length) throw new Error(layer.name + ": weights expect " + n + " inputs, got " + x.length);
    const out = new Float64Array(o);
    for (let m = 0; m < o; m++) {
      let s = b ? b.data[m] : 0;
      for (let i = 0; i < n; i++) s += wt.data[m * n + i] * x[i];
      out[m] = s;
    }
    return out;
  }

  function softmax(z) {
    const top = Math.max.apply(null, Array.from(z));
    const e = Array.from(z).map(function (v) { return Math.exp(v - top); });
    const total = e.reduce(function (a, b) { return a + b; }, 0);
    return e.map(function (v) { return v / total; });
  }

  /** Run the spec's layers on x (a Float64Array of the input shape): every layer's output, the logits, the probabilities. */
  function forward(spec, params, x) {
    let shape = spec.input_shape.slice();
    let data = x;
    const outputs = [];
    const layers = spec.features.concat(spec.classifier && spec.classifier.length ? [{ kind: "flatten", name: "flatten" }] : [],
      spec.classifier || []);
    for (const layer of layers) {
      if (layer.kind === "conv") ({ data, shape } = conv(layer, params, data, shape));
      else if (layer.kind === "pool") ({ data, shape } = pool(layer, data, shape));
      else if (layer.kind === "act") data = act(layer, data);
      else if (layer.kind === "flatten") shape = [data.length];
      else if (layer.kind === "linear") { data = linear(layer, params, data); shape = [data.length]; }
      else if (layer.kind === "dropout") { /* identity at inference */ }
      else throw unsupported(layer, "layers of kind " + layer.kind);
      outputs.push({ name: layer.name, kind: layer.kind, shape: shape.slice(), data: data });
    }
    return { outputs: outputs, logits: Array.from(data), probs: softmax(data) };
  }

  // ------------------------------------------------------------------ receptive fields (from the arithmetic)

  /** {layer: {rf, jump, start, shape}} for every conv/pool layer, from the rows of classicnets.arithmetic.trace
   *  (geometry: [{name, kind, out_shape, rf, jump}]); start is the input coordinate of the top-left pixel that
   *  unit (0, 0) sees (negative where padding reaches outside the input). */
  function receptiveFields(geometry, spec) {
    const fields = {};
    let start = [0, 0], jump = [1, 1];
    for (const row of geometry) {
      if (row.kind !== "conv" && row.kind !== "pool") continue;
      const layer = spec.features.filter(function (l) { return l.name === row.name; })[0];
      const pad = pair(typeof layer.padding === "number" || Array.isArray(layer.padding) ? layer.padding : 0);
      start = [start[0] - pad[0] * jump[0], start[1] - pad[1] * jump[1]];
      fields[row.name] = { rf: row.rf, jump: row.jump, start: start.slice(), shape: row.out_shape };
      jump = row.jump;
    }
    return fields;
  }

  function unitBox(field, i, j, inputHW) {
    const top = field.start[0] + i * field.jump[0], left = field.start[1] + j * field.jump[1];
    const t = Math.max(0, top), l = Math.max(0, left);
    return { top: t, left: l, height: Math.min(inputHW[0], top + field.rf[0]) - t, width: Math.min(inputHW[1], left + field.rf[1]) - l };
  }

  // ------------------------------------------------------------------ drawing helpers

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const key of Object.keys(attrs || {})) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    }
    for (const child of children || []) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function fmtShape(shape) { return shape.join("×"); }

  /** Diverging colour: negative blue, zero white, positive red (|v| / scale). */
  function diverging(v, scale) {
    const t = Math.max(-1, Math.min(1, scale > 0 ? v / scale : 0));
    if (t >= 0) return [255, Math.round(255 * (1 - t * 0.85)), Math.round(255 * (1 - t))];
    return [Math.round(255 * (1 + t)), Math.round(255 * (1 + t * 0.55)), 255];
  }

  function paint(canvas, data, offset, h, w, colour) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let k = 0; k < h * w; k++) {
      const c = colour(data[offset + k]);
      img.data[4 * k] = c[0]; img.data[4 * k + 1] = c[1]; img.data[4 * k + 2] = c[2]; img.data[4 * k + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function maxAbs(data) {
    let m = 0;
    for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
    return m;
  }

  function mapCanvas(h, w, scale, attrs) {
    const c = el("canvas", Object.assign({ width: String(w), height: String(h) }, attrs || {}));
    c.style.width = w * scale + "px";
    c.style.height = h * scale + "px";
    return c;
  }

  // ------------------------------------------------------------------ the viewer

  const SCALES = { input: 5, conv1: 3, pool1: 4, conv2: 5, pool2: 8 };
  const MAPS = [["conv1", "act1"], ["pool1", "pool1"], ["conv2", "act2"], ["pool2", "pool2"]]; // [layer, output shown]
  const BARS = [["fc1", "act3"], ["fc2", "act4"]];
  const DRAW = 280; // drawing canvas: 28×28 cells of 10×10 pixels

  /** Draw the viewer into root; on a bad payload, one message in root instead of a broken widget. */
  function mount(root, payload, options) {
    try {
      return mountInto(root, payload, options || {});
    } catch (e) {
      root.textContent = "";
      root.appendChild(el("p", { className: "lnl-error", text: "The network viewer could not start: " + e.message }));
      root.setAttribute("data-state", "error");
      return null;
    }
  }

  function mountInto(root, payload, options) {
    const s = createState(payload, options);
    const ui = buildLayout(root, s);
    s.run = function () { run(root, s, ui); };
    s.pick = function (n) { pick(s, ui, n); };
    attachDrawing(s, ui);
    ui.select.addEventListener("change", function () { s.variant = ui.select.value; s.run(); });
    ui.clear.addEventListener("click", function () {
      s.pixels = new Float64Array(s.imgH * s.imgW);
      s.picked = null;
      markPicked(ui, null);
      paintPad(s, ui);
      s.run();
    });
    ui.select.value = s.variant;
    s.pick(options.image || 0);
    const api = {
      pick: s.pick,
      setVariant: function (v) { ui.select.value = v; s.variant = v; s.run(); },
      result: function () { return s.result; },
      fields: function () { return s.nets[s.variant].fields; },
      input: function () { return Float64Array.from(s.pixels); },
    };
    root.classicnetsLive = api;
    return api;
  }

  /** Everything the viewer computes with: networks (weights, spec, geometry), images, the current input. */
  function createState(payload, options) {
    const imgH = payload.images.height, imgW = payload.images.width;
    const nets = {};
    for (const key of Object.keys(payload.weights.networks)) {
      const entry = payload.specs[key];
      nets[key] = { params: unpackNetwork(payload.weights.networks[key]), spec: entry.spec, title: entry.title,
        fields: receptiveFields(entry.geometry, entry.spec), shapes: shapesOf(entry.geometry) };
    }
    return {
      input: payload.weights.input, classes: payload.weights.classes, imgH: imgH, imgW: imgW, labels: payload.images,
      images: payload.images.data.map(function (b64) { return decodeImage(b64, imgH * imgW); }),
      nets: nets, variant: options.initial || Object.keys(nets)[0],
      pixels: new Float64Array(imgH * imgW), picked: null, result: null, renders: 0,
    };
  }

  function buildLayout(root, s) {
    const ui = {};
    root.textContent = "";
    ui.select = el("select", { "aria-label": "network", className: "lnl-network" },
      Object.keys(s.nets).map(function (k) { return el("option", { value: k, text: s.nets[k].title }); }));
    ui.prediction = el("span", { className: "lnl-prediction", role: "status", "aria-live": "polite" });
    root.appendChild(el("div", { className: "lnl-header" }, [el("label", {}, ["Network ", ui.select]), ui.prediction]));
    root.appendChild(el("p", { className: "lnl-caption",
      text: "Pick a Fashion-MNIST test image, or draw on the black square (white ink)." }));
    ui.strip = buildStrip(s);
    root.appendChild(ui.strip);
    ui.pad = el("canvas", { width: String(DRAW), height: String(DRAW), className: "lnl-draw",
      "aria-label": "drawing canvas, 28×28" });
    ui.ctx = ui.pad.getContext("2d", { willReadFrequently: true });
    ui.clear = el("button", { type: "button", className: "lnl-clear", text: "Clear" });
    ui.inputCanvas = mapCanvas(s.input.size, s.input.size, SCALES.input, { className: "lnl-map", "data-layer": "input" });
    ui.rfBox = el("div", { className: "lnl-rf", hidden: "" });
    ui.kernels = el("div", { className: "lnl-kernels", "aria-live": "polite" });
    const inputTitle = el("div", { className: "lnl-title", "data-layer": "input",
      text: "input · " + fmtShape(s.nets[s.variant].spec.input_shape),
      title: "the 28×28 image padded with background to 32×32 and normalised, as the training data" });
    root.appendChild(el("div", { className: "lnl-top" }, [
      el("div", { className: "lnl-stage" }, [el("div", { className: "lnl-title", text: "draw (28×28)" }), ui.pad, ui.clear]),
      el("div", { className: "lnl-stage" }, [inputTitle, el("div", { className: "lnl-input-wrap" }, [ui.inputCanvas, ui.rfBox])]),
      el("div", { className: "lnl-stage lnl-kernel-stage" }, [el("div", { className: "lnl-title", text: "hover a map unit" }),
        ui.kernels]),
    ]));
    ui.stages = el("div", { className: "lnl-stages" });
    ui.bars = el("div", { className: "lnl-bars" });
    root.appendChild(ui.stages);
    root.appendChild(ui.bars);
    return ui;
  }

  /** The strip of test images: click (or Enter) picks one. */
  function buildStrip(s) {
    const strip = el("div", { className: "lnl-strip", role: "list", "aria-label": "test images" });
    s.images.forEach(function (px, n) {
      const c = mapCanvas(s.imgH, s.imgW, 1, { className: "lnl-thumb", "data-index": String(n), role: "listitem",
        tabindex: "0", title: s.classes[s.labels.label[n]] + " (test image " + s.labels.index[n] + ")" });
      paint(c, px, 0, s.imgH, s.imgW, function (v) { return [v, v, v]; });
      c.addEventListener("click", function () { s.pick(n); });
      c.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); s.pick(n); }
      });
      strip.appendChild(c);
    });
    return strip;
  }

  function outputOf(result, name) {
    return result.outputs.filter(function (o) { return o.name === name; })[0];
  }

  function drawMaps(s, ui) {
    const net = s.nets[s.variant];
    ui.stages.textContent = "";
    for (const [layer, shown] of MAPS) {
      const out = outputOf(s.result, shown);
      const [c, h, w] = out.shape;
      const scale = maxAbs(out.data);
      const label = layer + (layer === shown ? "" : " → " + actName(net.spec, shown)) + " · " + fmtShape(net.shapes[layer]);
      const row = el("div", { className: "lnl-maps", "data-layer": layer });
      for (let m = 0; m < c; m++) {
        const cv = mapCanvas(h, w, SCALES[layer], { className: "lnl-map", "data-layer": layer, "data-channel": String(m) });
        paint(cv, out.data, m * h * w, h, w, function (v) { return diverging(v, scale); });
        cv.addEventListener("mousemove", function (e) { hover(s, ui, layer, m, cv, e); });
        cv.addEventListener("mouseleave", function () { unhover(ui); });
        row.appendChild(cv);
      }
      ui.stages.appendChild(el("div", { className: "lnl-stage" }, [el("div", { className: "lnl-title", text: label }), row]));
    }
  }

  /** fc1 and fc2 as bars (blue negative, red positive), then the class probabilities; returns the top class. */
  function drawBars(s, ui) {
    const net = s.nets[s.variant];
    ui.bars.textContent = "";
    for (const [layer, shown] of BARS) {
      const out = outputOf(s.result, shown);
      const scale = maxAbs(out.data);
      const cv = el("canvas", { width: String(out.data.length * 3), height: "60", className: "lnl-fc", "data-layer": layer });
      const ctx = cv.getContext("2d");
      for (let i = 0; i < out.data.length; i++) {
        const v = out.data[i], hgt = Math.round(28 * Math.abs(v) / (scale || 1));
        ctx.fillStyle = "rgb(" + diverging(v, scale).join(",") + ")";
        ctx.fillRect(3 * i, v >= 0 ? 30 - hgt : 30, 2, Math.max(1, hgt));
      }
      ui.bars.appendChild(el("div", { className: "lnl-stage" }, [el("div", { className: "lnl-title",
        text: layer + " → " + actName(net.spec, shown) + " · " + fmtShape(net.shapes[layer]) }), cv]));
    }
    const probs = s.result.probs;
    const best = probs.indexOf(Math.max.apply(null, probs));
    const list = el("div", { className: "lnl-probs", "data-layer": "fc3" });
    probs.forEach(function (p, k) {
      const bar = el("span", { className: "lnl-bar" });
      bar.style.width = (p * 100).toFixed(1) + "%";
      list.appendChild(el("div", { className: "lnl-prob" + (k === best ? " lnl-best" : ""), "data-class": String(k) }, [
        el("span", { className: "lnl-class", text: s.classes[k] }), el("span", { className: "lnl-track" }, [bar]),
        el("span", { className: "lnl-pct", text: (p * 100).toFixed(1) + "%" })]));
    });
    ui.bars.appendChild(el("div", { className: "lnl-stage" }, [el("div", { className: "lnl-title",
      text: "fc3 → softmax · " + fmtShape(net.shapes.fc3) + " class probabilities" }), list]));
    return best;
  }

  /** Forward pass on the current input, then redraw everything. */
  function run(root, s, ui) {
    const net = s.nets[s.variant], input = s.input;
    const x = prepare(s.pixels, s.imgH, s.imgW, input);
    s.result = forward(net.spec, net.params, x);
    paint(ui.inputCanvas, x, 0, input.size, input.size, function (v) {
      const g = Math.round(255 * Math.max(0, Math.min(1, v * input.std + input.mean)));
      return [g, g, g];
    });
    drawMaps(s, ui);
    const best = drawBars(s, ui);
    const truth = s.picked === null ? "your drawing"
      : "test image " + s.labels.index[s.picked] + ", label " + s.classes[s.labels.label[s.picked]];
    ui.prediction.textContent = "Prediction: " + s.classes[best] + " (" + (s.result.probs[best] * 100).toFixed(1) + "%) — " + truth;
    s.renders += 1;
    root.setAttribute("data-prediction", String(best));
    root.setAttribute("data-renders", String(s.renders));
    root.setAttribute("data-variant", s.variant);
    root.setAttribute("data-state", "ok");
    unhover(ui);
  }

  // ------------------------------------------------------------------ hovering

  function hover(s, ui, layer, m, cv, e) {
    const rect = cv.getBoundingClientRect();
    const i = Math.min(cv.height - 1, Math.floor((e.clientY - rect.top) / rect.height * cv.height));
    const j = Math.min(cv.width - 1, Math.floor((e.clientX - rect.left) / rect.width * cv.width));
    const field = s.nets[s.variant].fields[layer];
    const box = unitBox(field, i, j, [s.input.size, s.input.size]);
    const px = ui.inputCanvas.getBoundingClientRect().width / s.input.size;
    ui.rfBox.style.top = box.top * px + "px";
    ui.rfBox.style.left = box.left * px + "px";
    ui.rfBox.style.width = box.width * px + "px";
    ui.rfBox.style.height = box.height * px + "px";
    ui.rfBox.removeAttribute("hidden");
    ui.rfBox.setAttribute("data-layer", layer);
    ui.rfBox.setAttribute("data-unit", m + "," + i + "," + j);
    ui.rfBox.setAttribute("data-size", box.height + "×" + box.width);
    showKernels(s, ui, layer, m, i, j, field);
  }

  function unhover(ui) {
    ui.rfBox.setAttribute("hidden", "");
    ui.kernels.textContent = "";
    ui.kernels.appendChild(el("p", { className: "lnl-caption", text: "Move the mouse over a feature map: the box on the " +
      "input marks the pixels that unit can see (its receptive field) and the kernel that produced it appears here." }));
  }

  /** The conv kernel behind a unit: its own for a conv map, the one of the map below for a pooled map. */
  function showKernels(s, ui, layer, m, i, j, field) {
    const net = s.nets[s.variant];
    const convName = layer.replace("pool", "conv");
    const wt = net.params[convName + ".weight"];
    const [, ci, kh, kw] = wt.shape;
    const slice = wt.data.subarray(m * ci * kh * kw, (m + 1) * ci * kh * kw);
    const scale = maxAbs(slice);
    const op = layer === convName ? null : net.spec.features.filter(function (l) { return l.name === layer; })[0].op;
    const how = op === null ? "" : " (" + op + " of a 2×2 window of " + convName + " map " + m + ", whose kernel is:)";
    ui.kernels.textContent = "";
    ui.kernels.appendChild(el("p", { className: "lnl-caption", text: layer + " map " + m + ", unit (" + i + ", " + j +
      "): sees " + fmtHW(field.rf) + " input pixels" + how }));
    const row = el("div", { className: "lnl-kernel-row" });
    for (let c = 0; c < ci; c++) {
      const cv = mapCanvas(kh, kw, 6, { className: "lnl-kernel", "data-layer": convName, "data-channel": String(m) });
      paint(cv, slice, c * kh * kw, kh, kw, function (v) { return diverging(v, scale); });
      row.appendChild(cv);
    }
    ui.kernels.appendChild(row);
    ui.kernels.appendChild(el("p", { className: "lnl-caption", text: convName + " kernel " + m + ": " + ci + "×" + kh +
      "×" + kw + " weights + bias " + net.params[convName + ".bias"].data[m].toFixed(3) }));
  }

  // ------------------------------------------------------------------ input: picking and drawing

  /** The 28×28 input onto the drawing canvas, each pixel a 10×10 block (so downsampling gives it back). */
  function paintPad(s, ui) {
    const cell = DRAW / s.imgW;
    for (let y = 0; y < s.imgH; y++) {
      for (let x = 0; x < s.imgW; x++) {
        const g = Math.round(s.pixels[y * s.imgW + x] * 255);
        ui.ctx.fillStyle = "rgb(" + g + "," + g + "," + g + ")";
        ui.ctx.fillRect(x * cell, y * cell, cell, cell);
      }
    }
  }

  function markPicked(ui, n) {
    for (const t of ui.strip.querySelectorAll(".lnl-thumb")) {
      t.classList.toggle("lnl-picked", Number(t.getAttribute("data-index")) === n);
    }
  }

  function pick(s, ui, n) {
    s.picked = n;
    for (let k = 0; k < s.pixels.length; k++) s.pixels[k] = s.images[n][k] / 255;
    markPicked(ui, n);
    paintPad(s, ui);
    s.run();
  }

  /** Pointer events (mouse, pen and touch): white round strokes; the 28×28 input is their block mean. */
  function attachDrawing(s, ui) {
    const pad = ui.pad, ctx = ui.ctx;
    let last = null, pending = false;
    function point(e) {
      const r = pad.getBoundingClientRect();
      return [(e.clientX - r.left) * DRAW / r.width, (e.clientY - r.top) * DRAW / r.height];
    }
    function stroke(e) {
      const p = point(e);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 26;
      ctx.lineCap = "round";
      ctx.beginPath();
      ctx.moveTo(last ? last[0] : p[0], last ? last[1] : p[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      last = p;
      s.picked = null;
      markPicked(ui, null);
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        s.pixels = downsample(ctx.getImageData(0, 0, DRAW, DRAW).data, DRAW, DRAW, DRAW / s.imgW);
        s.run();
      });
    }
    pad.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      try { pad.setPointerCapture(e.pointerId); } catch (err) { /* a synthetic event has no capturable pointer */ }
      last = null;
      stroke(e);
    });
    pad.addEventListener("pointermove", function (e) { if (last) { e.preventDefault(); stroke(e); } });
    for (const name of ["pointerup", "pointercancel", "pointerleave"]) pad.addEventListener(name, function () { last = null; });
  }

  function fmtHW(hw) { return hw[0] + "×" + hw[1]; }

  function actName(spec, name) {
    const l = spec.features.concat(spec.classifier || []).filter(function (x) { return x.name === name; })[0];
    return l && l.kind === "act" ? l.fn : name;
  }

  function shapesOf(geometry) {
    const shapes = {};
    for (const row of geometry) shapes[row.name] = row.out_shape;
    return shapes;
  }

  const api = {
    version: 1,
    bytesFromBase64: bytesFromBase64,
    bytesFromBase85: bytesFromBase85,
    float16: float16,
    unpackNetwork: unpackNetwork,
    decodeImage: decodeImage,
    prepare: prepare,
    downsample: downsample,
    forward: forward,
    receptiveFields: receptiveFields,
    unitBox: unitBox,
    mount: mount,
  };
  if (typeof window !== "undefined") window.classicnetsLive = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})();
