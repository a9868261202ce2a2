/* classicnets — the page that trains LeNet5 in the reader's browser (uses lenet_train.js, lenet_train_loop.js).
 *
 * mount(root, {settings, data}) draws: the network switch, learning rate, batch size and epochs inputs,
 * Train / Pause / Reset, a status line, the loss and test-accuracy curves, conv1's six kernels and the
 * confusion matrix of the 500 held-out images. Training runs in slices of SLICE_MS milliseconds, each in its
 * own task (MessageChannel), so a click or a keystroke waits at most one slice; the drawing is redone at
 * most every DRAW_MS milliseconds and whenever the state changes.
 *
 * For tests: root.dataset.state ("loading" | "ready" | "training" | "paused" | "done" | "diverged" | "error"),
 * root.dataset.step, root.dataset.variant; root.classicnetsTrain = {trainer, state(), kernels(), latencies}.
 * latencies: for each button press and input change, milliseconds from the event's time stamp to its handler.
 */
(function () {
  "use strict";
  const T = window.classicnetsTrain;
  const SLICE_MS = 15, DRAW_MS = 100;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else if (k === "className") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children || []) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return node;
  }

  function field(name) { return el("span", { "data-field": name, className: "lnt-value", text: "–" }); }

  function controls(ui, settings) {
    ui.network = el("select", { className: "lnt-network", "aria-label": "network" },
      settings.variants.map((v) => el("option", { value: v, text: v === "blog" ? "blog (tanh, avg pool)" : "modern (ReLU, max pool)" })));
    ui.network.value = settings.variant;
    const input = (cls, value, label) => {
      ui[cls] = el("input", { className: "lnt-" + cls, type: "text", inputmode: "decimal", size: "6", value: String(value), "aria-label": label });
      return el("label", {}, [label + " ", ui[cls]]);
    };
    ui.train = el("button", { className: "lnt-train", type: "button", text: "Train" });
    ui.pause = el("button", { className: "lnt-pause", type: "button", text: "Pause" });
    ui.reset = el("button", { className: "lnt-reset", type: "button", text: "Reset" });
    return el("div", { className: "lnt-controls" }, [
      el("label", {}, ["Network ", ui.network]), input("lr", settings.lr, "learning rate"),
      input("batch", settings.batch, "batch size"), input("epochs", settings.epochs, "epochs"),
      ui.train, ui.pause, ui.reset]);
  }

  function layout(root, settings) {
    const ui = {};
    root.textContent = "";
    root.appendChild(controls(ui, settings));
    ui.message = el("div", { className: "lnt-message lnt-error", role: "alert", hidden: "" });
    ui.status = el("div", { className: "lnt-status" }, ["step ", field("step"), " · epoch ", field("epoch"),
      " · loss ", field("loss"), " · test accuracy ", field("accuracy"), " · learning rate now ", field("lrNow"),
      " · ", field("seconds"), " s"]);
    ui.loss = el("canvas", { className: "lnt-chart lnt-loss", width: "360", height: "150", "aria-label": "training loss" });
    ui.acc = el("canvas", { className: "lnt-chart lnt-acc", width: "360", height: "150", "aria-label": "test accuracy" });
    ui.kernels = [];
    for (let i = 0; i < 6; i++) ui.kernels.push(el("canvas", { className: "lnt-kernel", width: "5", height: "5", "data-channel": String(i) }));
    ui.confusion = el("div", { className: "lnt-confusion" });
    root.append(ui.message, ui.status, el("div", { className: "lnt-charts" }, [
      el("figure", {}, [el("figcaption", { text: "Training loss per step (light) and its mean over 20 steps" }), ui.loss]),
      el("figure", {}, [el("figcaption", { text: "Accuracy on the 500 held-out test images" }), ui.acc]),
      el("figure", { className: "lnt-kernels" }, [el("figcaption", { text: "conv1's six 5×5 kernels (blue < 0 < red)" }),
        el("div", { className: "lnt-kernel-row" }, ui.kernels)]),
    ]), ui.confusion);
    ui.fields = {};
    for (const node of ui.status.querySelectorAll("[data-field]")) ui.fields[node.dataset.field] = node;
    return ui;
  }

  // ------------------------------------------------------------------ drawing

  function plot(canvas, lines, xmax, ymax, guide) {
    const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, m = 24;
    const color = getComputedStyle(canvas).color || "#444";
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.globalAlpha = 0.6; ctx.lineWidth = 1;
    ctx.strokeRect(m, 4, w - m - 4, h - m - 4);
    ctx.font = "10px sans-serif";
    ctx.fillText(String(ymax), 2, 12); ctx.fillText("0", 2, h - m); ctx.fillText(String(xmax), w - 30, h - 8);
    ctx.globalAlpha = 1;
    const X = (x) => m + (w - m - 4) * x / xmax, Y = (y) => 4 + (h - m - 4) * (1 - Math.min(y, ymax) / ymax);
    if (guide !== undefined) {
      ctx.setLineDash([4, 3]); ctx.beginPath(); ctx.moveTo(X(0), Y(guide)); ctx.lineTo(X(xmax), Y(guide)); ctx.stroke(); ctx.setLineDash([]);
    }
    for (const line of lines) {
      ctx.strokeStyle = line.color; ctx.lineWidth = line.width; ctx.beginPath();
      line.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
      if (line.dots) for (const [x, y] of line.points) { ctx.fillStyle = line.color; ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4); }
    }
  }

  function drawLoss(canvas, losses) {
    const raw = losses.map((l, i) => [i + 1, l]), mean = [];
    let s = 0;
    losses.forEach((l, i) => { s += l - (i >= 20 ? losses[i - 20] : 0); mean.push([i + 1, s / Math.min(i + 1, 20)]); });
    const ymax = Math.max(2.5, Math.ceil(Math.max(0, ...losses.slice(0, 20))));
    plot(canvas, [{ points: raw, color: "#4c78a880", width: 1 }, { points: mean, color: "#e45756", width: 2 }],
      Math.max(10, losses.length), ymax);
  }

  function drawAccuracy(canvas, evals, s) {
    const epochs = Math.max(s.epochs, Math.ceil(s.seen / s.trainCount));
    plot(canvas, [{ points: evals.map((e) => [e.seen / s.trainCount, e.accuracy]), color: "#54a24b", width: 2, dots: true }],
      epochs, 1, 0.8);
  }

  function drawKernels(canvases, w) {
    canvases.forEach((cv, m) => {
      const k = w.subarray(m * 25, m * 25 + 25), img = cv.getContext("2d").createImageData(5, 5);
      let top = 1e-12;
      for (const v of k) top = Math.max(top, Math.abs(v));
      for (let i = 0; i < 25; i++) {
        const v = k[i] / top, fade = Math.round(255 * (1 - Math.abs(v)));
        img.data.set(v >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * i);
      }
      cv.getContext("2d").putImageData(img, 0, 0);
    });
  }

  function drawConfusion(box, s, classes) {
    box.textContent = "";
    if (!s.confusion) return;
    const last = s.evals[s.evals.length - 1], perClass = s.testCount / 10;
    const head = el("tr", {}, [el("th", { text: "true \\ predicted" })].concat(classes.map((c, j) => el("th", { title: c, text: String(j) }))));
    const rows = classes.map((c, i) => el("tr", {}, [el("th", { text: i + " " + c })].concat(classes.map((_, j) => {
      const n = s.confusion[i * 10 + j], td = el("td", { text: String(n), "data-cell": i + "," + j });
      td.style.background = (i === j ? "rgba(84,162,75," : "rgba(228,87,86,") + Math.min(1, n / perClass).toFixed(2) + ")";
      return td;
    }))));
    box.appendChild(el("table", {}, [el("caption", {
      text: "Confusion matrix of the " + s.testCount + " held-out test images after step " + last.step +
        " (accuracy " + last.accuracy.toFixed(3) + "): rows are the true class, columns the predicted one",
    }), el("thead", {}, [head]), el("tbody", {}, rows)]));
  }

  /** What the status line shows, from the trainer's state (the tests compare the two). */
  function shown(s) {
    const last = s.evals[s.evals.length - 1];
    return {
      step: String(s.step), epoch: s.epoch.toFixed(2), seconds: (s.elapsedMs / 1000).toFixed(1),
      loss: s.losses.length ? s.losses[s.losses.length - 1].toFixed(4) : "–",
      accuracy: last ? last.accuracy.toFixed(3) : "–", lrNow: Number(s.lrNow.toPrecision(3)).toString(),
    };
  }

  // ------------------------------------------------------------------ the page

  /** One step of each network before the reader can press anything: the JIT's first, slow passes happen at
   * load, not in the first slice of training (which would then take over 100 ms). */
  function warmUp(data) {
    for (const v of ["blog", "modern"]) {
      const net = T.createNet(v, T.initParams(0));
      T.lossAndGrad(net, data.train.x, data.train.labels, 2);
      T.logits(net, data.test.x, 0);
    }
  }

  function mount(root, payload) {
    const ui = layout(root, payload.settings), page = { latencies: [] };
    let trainer = null, lastDraw = 0, drawnEvals = -1;
    root.classicnetsTrain = page;
    const channel = new MessageChannel();

    function say(text) { ui.message.textContent = text; ui.message.hidden = !text; }

    function render() {
      const s = trainer.state;
      lastDraw = performance.now();
      root.dataset.state = s.status; root.dataset.step = String(s.step); root.dataset.variant = s.variant;
      const text = shown(s);
      for (const k of Object.keys(text)) ui.fields[k].textContent = text[k];
      drawLoss(ui.loss, s.losses);
      drawAccuracy(ui.acc, s.evals, s);
      drawKernels(ui.kernels, trainer.net.params["conv1.weight"]);
      if (drawnEvals !== s.evals.length) { drawConfusion(ui.confusion, s, trainer.data.classes); drawnEvals = s.evals.length; }
      if (s.status === "diverged") say(s.message);
      ui.train.disabled = s.status === "training" || s.status === "diverged";
      ui.pause.disabled = s.status !== "training";
    }

    channel.port1.onmessage = function () {
      if (trainer.state.status !== "training") return;
      trainer.work(SLICE_MS);
      if (trainer.state.status !== "training" || performance.now() - lastDraw >= DRAW_MS) render();
      if (trainer.state.status === "training") channel.port2.postMessage(0);
    };

    function timed(handler) {
      return function (event) { page.latencies.push(performance.now() - event.timeStamp); handler(event); };
    }

    function settingsMessage() {
      return trainer.set({ lr: ui.lr.value, batch: ui.batch.value, epochs: ui.epochs.value });
    }

    ui.train.addEventListener("click", timed(function () {
      const bad = settingsMessage() || trainer.start();
      say(bad);
      render();
      if (!bad) channel.port2.postMessage(0);
    }));
    ui.pause.addEventListener("click", timed(function () { trainer.pause(); render(); }));
    ui.reset.addEventListener("click", timed(function () {
      trainer.pause();
      const bad = settingsMessage();
      trainer.reset({ variant: ui.network.value });
      drawnEvals = -1; say(bad); render();
    }));
    ui.network.addEventListener("change", timed(function () {
      trainer.pause(); trainer.reset({ variant: ui.network.value }); drawnEvals = -1; say(""); render();
    }));
    for (const key of ["lr", "batch", "epochs"]) {
      ui[key].addEventListener("change", timed(function () { say(trainer.set({ [key]: ui[key].value })); render(); }));
    }

    page.state = () => trainer && trainer.state;
    page.kernels = () => Array.from(trainer.net.params["conv1.weight"]);
    page.shown = () => shown(trainer.state);
    T.decodeData(payload.data).then(function (data) {
      warmUp(data);
      trainer = T.createTrainer(data, payload.settings);
      page.trainer = trainer;
      render();
    }).catch(function (err) {
      root.dataset.state = "error";
      say("the embedded data could not be decoded (" + err.message + "): this page needs a browser with DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later)");
    });
  }

  T.mount = mount;
  T.shown = shown;
})();
