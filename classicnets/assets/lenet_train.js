/* classicnets — LeNet5 trained in the reader's browser: data, forward and backward passes, SGD, trainer.
 *
 * classicnets/browser_train.py inlines this file and lenet_train_page.js (the page) with the settings and a
 * Fashion-MNIST subset into one HTML output. No libraries, no network, no kernel.
 *
 * The network is the book's lenet5("blog") (tanh, average pooling) or lenet5("modern") (ReLU, max pooling) on
 * 1×32×32 inputs: conv1 5×5→6, act, pool 2, conv2 5×5→16, act, pool 2, fc1 400→120, act, fc2 120→84, act,
 * fc3 84→10, softmax cross-entropy averaged over the batch. Parameters and momentum buffers are Float32Array
 * (float32, as PyTorch's); each image's activations and the gradient sums are Float64Array.
 *
 * Proven against PyTorch (tests/test_train_js.py under node, tests/test_browser_train.py in Chromium): from one
 * state_dict and one batch, the loss and every parameter's gradient equal torch.autograd's, and SGD steps
 * with momentum give torch.optim.SGD's weights (the tolerances are in those tests).
 *
 * API (window.classicnetsTrain, or module.exports under node):
 *   SHAPES, NAMES;  initParams(seed) -> {name: Float32Array} (PyTorch's default init scheme, seeded)
 *   decodeData(data) -> Promise<{train: {count, labels, x}, test: {...}, classes}> (x: N × 1024, prepared)
 *   createNet(variant, params) -> net;  lossAndGrad(net, x, labels, n) -> mean loss, gradients in net.grad
 *   sgdStep(net, lr, momentum) (torch.optim.SGD: buf = m·buf + g, p -= lr·buf; then the gradients are zeroed)
 *   logits(net, x, offset) -> Float64Array(10);  createTrainer(data, options) -> trainer (see its doc)
 */
(function () {
  "use strict";

  const NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
    "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];
  const SHAPES = {
    "conv1.weight": [6, 1, 5, 5], "conv1.bias": [6], "conv2.weight": [16, 6, 5, 5], "conv2.bias": [16],
    "fc1.weight": [120, 400], "fc1.bias": [120], "fc2.weight": [84, 120], "fc2.bias": [84],
    "fc3.weight": [10, 84], "fc3.bias": [10],
  };
  const IN = 32 * 32;
  const size = (shape) => shape.reduce((a, b) => a * b, 1);

  // ------------------------------------------------------------------ data

  function bytesFromBase64(b64) {
    if (typeof atob === "function") {
      const s = atob(b64), out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
      return out;
    }
    return new Uint8Array(Buffer.from(b64, "base64"));
  }

  /** zlib-deflated bytes, inflated by the platform's DecompressionStream (Chromium, node ≥ 18). */
  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /** Two 4-bit levels a byte (high nibble first) -> count pixels 0..255 (17 × level), as browser_train.unpack. */
  function levelsToPixels(packed, count) {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = 17 * (i & 1 ? packed[i >> 1] & 15 : packed[i >> 1] >> 4);
    return out;
  }

  /** 28×28 pixels -> 32×32 inputs as chapter 3: /255, zero padding (the background), (x − mean) / std. */
  function prepare(pixels, count, input) {
    const pad = input.pad, W = 28 + 2 * pad, out = new Float32Array(count * W * W);
    const bg = (0 - input.mean) / input.std;
    for (let n = 0; n < count; n++) {
      const o = n * W * W;
      out.fill(bg, o, o + W * W);
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          out[o + (y + pad) * W + x + pad] = (pixels[n * 784 + y * 28 + x] / 255 - input.mean) / input.std;
        }
      }
    }
    return out;
  }

  async function decodeSplit(split, input) {
    const pixels = levelsToPixels(await inflate(bytesFromBase64(split.pixels)), split.count * 784);
    const labels = bytesFromBase64(split.labels);
    if (labels.length !== split.count) throw new Error("the data holds " + labels.length + " labels for " + split.count + " images");
    return { count: split.count, labels: labels, pixels: pixels, x: prepare(pixels, split.count, input) };
  }

  async function decodeData(data) {
    return { classes: data.classes, train: await decodeSplit(data.train, data.input), test: await decodeSplit(data.test, data.input) };
  }

  // ------------------------------------------------------------------ parameters

  /** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
  function random(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** PyTorch's default Conv2d/Linear init scheme: weight and bias uniform in ±1/√fan_in (seeded, not torch's RNG). */
  function initParams(seed) {
    const rand = random(seed), params = {};
    for (const name of NAMES) {
      const shape = SHAPES[name], layer = name.split(".")[0];
      const fanIn = size(SHAPES[layer + ".weight"].slice(1)), bound = 1 / Math.sqrt(fanIn);
      const data = new Float32Array(size(shape));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * bound;
      params[name] = data;
    }
    return params;
  }

  /** {name: array or {data}} (e.g. a state_dict sent from PyTorch) -> {name: Float32Array}, shapes checked by size. */
  function paramsFrom(tensors) {
    const params = {};
    for (const name of NAMES) {
      const t = tensors[name];
      if (!t) throw new Error("no tensor " + name);
      const data = Float32Array.from(t.data || t);
      if (data.length !== size(SHAPES[name])) throw new Error(name + " holds " + data.length + " numbers, expected " + size(SHAPES[name]));
      params[name] = data;
    }
    return params;
  }

  // ------------------------------------------------------------------ the network

  function zeros64() {
    const out = {};
    for (const name of NAMES) out[name] = new Float64Array(size(SHAPES[name]));
    return out;
  }

  function createNet(variant, params) {
    if (variant !== "blog" && variant !== "modern") throw new Error("no LeNet5 called " + JSON.stringify(variant) + ": use blog or modern");
    const momentum = {};
    for (const name of NAMES) momentum[name] = new Float32Array(size(SHAPES[name]));
    const f = (n) => new Float64Array(n);
    return {
      variant: variant, tanh: variant === "blog", params: params, grad: zeros64(), momentum: momentum, steps: 0,
      // one image's activations (a: after the activation) and their gradients (d…)
      x: f(IN), a1: f(6 * 784), p1: f(6 * 196), a2: f(16 * 100), p2: f(400), h1: f(120), h2: f(84), z: f(10),
      arg1: new Int32Array(6 * 196), arg2: new Int32Array(400),
      dz: f(10), dh2: f(84), dh1: f(120), dp2: f(400), da2: f(1600), dp1: f(6 * 196), da1: f(6 * 784),
    };
  }

  /** out[m] = bias[m] + Σ_c,u,v w[m,c,u,v] · in[c, y+u, x+v] (PyTorch's conv2d: cross-correlation, no padding). */
  function convForward(inp, C, H, w, b, M, out) {
    const K = 5, O = H - K + 1;
    for (let m = 0; m < M; m++) {
      const om = m * O * O;
      out.fill(b[m], om, om + O * O);
      for (let c = 0; c < C; c++) {
        for (let u = 0; u < K; u++) {
          for (let v = 0; v < K; v++) {
            const wt = w[((m * C + c) * K + u) * K + v];
            for (let y = 0; y < O; y++) {
              const ir = c * H * H + (y + u) * H + v, or = om + y * O;
              for (let x = 0; x < O; x++) out[or + x] += wt * inp[ir + x];
            }
          }
        }
      }
    }
  }

  /** Adds ∂L/∂w, ∂L/∂b into dw, db; writes ∂L/∂in into din (when given), from ∂L/∂out = dout. */
  function convBackward(inp, C, H, w, M, dout, dw, db, din) {
    const K = 5, O = H - K + 1;
    if (din) din.fill(0);
    for (let m = 0; m < M; m++) {
      const om = m * O * O;
      let sb = 0;
      for (let i = 0; i < O * O; i++) sb += dout[om + i];
      db[m] += sb;
      for (let c = 0; c < C; c++) {
        for (let u = 0; u < K; u++) {
          for (let v = 0; v < K; v++) {
            const k = ((m * C + c) * K + u) * K + v, wt = w[k];
            let s = 0;
            for (let y = 0; y < O; y++) {
              const ir = c * H * H + (y + u) * H + v, or = om + y * O;
              if (din) {
                for (let x = 0; x < O; x++) { const g = dout[or + x]; s += g * inp[ir + x]; din[ir + x] += wt * g; }
              } else {
                for (let x = 0; x < O; x++) s += dout[or + x] * inp[ir + x];
              }
            }
            dw[k] += s;
          }
        }
      }
    }
  }

  /** 2×2 pooling, stride 2: the mean (blog) or the first maximum in scan order, as PyTorch (modern). */
  function poolForward(a, C, H, out, arg, mean) {
    const O = H / 2;
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < O; i++) {
        for (let j = 0; j < O; j++) {
          const t = c * H * H + 2 * i * H + 2 * j, q = [t, t + 1, t + H, t + H + 1], o = c * O * O + i * O + j;
          if (mean) { out[o] = (a[q[0]] + a[q[1]] + a[q[2]] + a[q[3]]) / 4; continue; }
          let best = q[0];
          for (let k = 1; k < 4; k++) if (a[q[k]] > a[best]) best = q[k];
          out[o] = a[best];
          arg[o] = best;
        }
      }
    }
  }

  /** ∂L/∂a of the pooled map, times the activation's derivative: ∂L/∂(pre-activation), into da. */
  function poolActBackward(dout, a, C, H, arg, tanh, da) {
    const O = H / 2;
    da.fill(0);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < O; i++) {
        for (let j = 0; j < O; j++) {
          const o = c * O * O + i * O + j, t = c * H * H + 2 * i * H + 2 * j;
          if (tanh) { const g = dout[o] / 4; da[t] = g; da[t + 1] = g; da[t + H] = g; da[t + H + 1] = g; } else da[arg[o]] = dout[o];
        }
      }
    }
    for (let i = 0; i < da.length; i++) da[i] *= tanh ? 1 - a[i] * a[i] : a[i] > 0 ? 1 : 0;
  }

  function activate(v, tanh) {
    for (let i = 0; i < v.length; i++) v[i] = tanh ? Math.tanh(v[i]) : v[i] > 0 ? v[i] : 0;
  }

  function linearForward(x, I, w, b, O, out) {
    for (let o = 0; o < O; o++) {
      let s = b[o];
      const r = o * I;
      for (let i = 0; i < I; i++) s += w[r + i] * x[i];
      out[o] = s;
    }
  }

  /** Adds ∂L/∂w, ∂L/∂b; writes ∂L/∂x into dx (when given). */
  function linearBackward(x, I, w, O, dout, dw, db, dx) {
    if (dx) dx.fill(0);
    for (let o = 0; o < O; o++) {
      const g = dout[o], r = o * I;
      db[o] += g;
      if (g === 0) continue;
      for (let i = 0; i < I; i++) dw[r + i] += g * x[i];
      if (dx) for (let i = 0; i < I; i++) dx[i] += w[r + i] * g;
    }
  }

  /** One image (x[offset .. offset + 1024]) through the network: the 10 logits in net.z. */
  function forward(net, x, offset) {
    const p = net.params, t = net.tanh;
    for (let i = 0; i < IN; i++) net.x[i] = x[offset + i];
    convForward(net.x, 1, 32, p["conv1.weight"], p["conv1.bias"], 6, net.a1);
    activate(net.a1, t);
    poolForward(net.a1, 6, 28, net.p1, net.arg1, t);
    convForward(net.p1, 6, 14, p["conv2.weight"], p["conv2.bias"], 16, net.a2);
    activate(net.a2, t);
    poolForward(net.a2, 16, 10, net.p2, net.arg2, t);
    linearForward(net.p2, 400, p["fc1.weight"], p["fc1.bias"], 120, net.h1);
    activate(net.h1, t);
    linearForward(net.h1, 120, p["fc2.weight"], p["fc2.bias"], 84, net.h2);
    activate(net.h2, t);
    linearForward(net.h2, 84, p["fc3.weight"], p["fc3.bias"], 10, net.z);
    return net.z;
  }

  function logits(net, x, offset) { return Float64Array.from(forward(net, x, offset || 0)); }

  /** Cross-entropy of one image, its gradient (scaled by `scale`, 1/batch) in net.dz. */
  function crossEntropy(net, label, scale) {
    const z = net.z;
    let m = -Infinity, s = 0;
    for (let k = 0; k < 10; k++) m = Math.max(m, z[k]);
    for (let k = 0; k < 10; k++) s += Math.exp(z[k] - m);
    for (let k = 0; k < 10; k++) net.dz[k] = (Math.exp(z[k] - m) / s - (k === label ? 1 : 0)) * scale;
    return m + Math.log(s) - z[label];
  }

  function dActivation(d, a, tanh) {
    for (let i = 0; i < d.length; i++) d[i] *= tanh ? 1 - a[i] * a[i] : a[i] > 0 ? 1 : 0;
  }

  /** Forward and backward for one image: adds scale × its gradient into net.grad; returns its loss. */
  function accumulate(net, x, offset, label, scale) {
    forward(net, x, offset);
    const loss = crossEntropy(net, label, scale), p = net.params, g = net.grad, t = net.tanh;
    linearBackward(net.h2, 84, p["fc3.weight"], 10, net.dz, g["fc3.weight"], g["fc3.bias"], net.dh2);
    dActivation(net.dh2, net.h2, t);
    linearBackward(net.h1, 120, p["fc2.weight"], 84, net.dh2, g["fc2.weight"], g["fc2.bias"], net.dh1);
    dActivation(net.dh1, net.h1, t);
    linearBackward(net.p2, 400, p["fc1.weight"], 120, net.dh1, g["fc1.weight"], g["fc1.bias"], net.dp2);
    poolActBackward(net.dp2, net.a2, 16, 10, net.arg2, t, net.da2);
    convBackward(net.p1, 6, 14, p["conv2.weight"], 16, net.da2, g["conv2.weight"], g["conv2.bias"], net.dp1);
    poolActBackward(net.dp1, net.a1, 6, 28, net.arg1, t, net.da1);
    convBackward(net.x, 1, 32, p["conv1.weight"], 6, net.da1, g["conv1.weight"], g["conv1.bias"], null);
    return loss;
  }

  function zeroGrad(net) { for (const name of NAMES) net.grad[name].fill(0); }

  /** The mean loss of n images (x: n × 1024, labels), with its gradient left in net.grad (zeroed first). */
  function lossAndGrad(net, x, labels, n) {
    zeroGrad(net);
    let loss = 0;
    for (let i = 0; i < n; i++) loss += accumulate(net, x, i * IN, labels[i], 1 / n);
    return loss / n;
  }

  /** torch.optim.SGD(lr, momentum), no dampening or weight decay: buf = momentum·buf + grad; p −= lr·buf. */
  function sgdStep(net, lr, momentum) {
    for (const name of NAMES) {
      const p = net.params[name], g = net.grad[name], buf = net.momentum[name];
      for (let i = 0; i < p.length; i++) {
        buf[i] = net.steps === 0 ? g[i] : momentum * buf[i] + Math.fround(g[i]);
        p[i] = p[i] - lr * buf[i];
      }
    }
    net.steps += 1;
    zeroGrad(net);
  }

  const core = {
    NAMES: NAMES, SHAPES: SHAPES, bytesFromBase64: bytesFromBase64, inflate: inflate, levelsToPixels: levelsToPixels,
    prepare: prepare, decodeData: decodeData, random: random, initParams: initParams, paramsFrom: paramsFrom,
    createNet: createNet, logits: logits, accumulate: accumulate, lossAndGrad: lossAndGrad, sgdStep: sgdStep,
    zeroGrad: zeroGrad,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = core;
  if (typeof window !== "undefined") window.classicnetsTrain = Object.assign(window.classicnetsTrain || {}, core);
})();
