/* classicnets — the training loop of the in-browser LeNet5, in slices of time.
 *
 * createTrainer(data, options) holds a network (lenet_train.js), its SGD state and the history the page draws.
 * trainer.work(ms) does as much as fits in ms milliseconds and returns: one image's forward and backward pass,
 * or one test image's evaluation, is the unit, so a slice never runs much over its budget (about 1 ms a unit
 * on a laptop) and the page stays responsive whatever the batch size. The page calls work() from a
 * MessageChannel task, again and again, while it trains.
 *
 * Batches: a seeded permutation of the training images, one epoch after another; a step takes the next
 * `batch` images (a batch may span two epochs), averages their losses and gradients and makes one SGD step.
 * The 500 test images are evaluated after every half epoch of images and at the end (test accuracy and the
 * confusion matrix: rows the true class, columns the predicted one).
 * The learning rate decays linearly from the reader's lr (first step) towards 0 (the last step of the run).
 * A step whose loss is not finite, or above MAX_LOSS (a diverging network), stops the training with
 * "loss is NaN at step k — lower the learning rate" before its update is applied.
 *
 * trainer.state: {variant, lr, batch, momentum, epochs, seed, status ("ready" | "training" | "paused" | "done" |
 *   "diverged"), step, seen, epoch, losses [per step], evals [{step, seen, accuracy}], confusion, message,
 *   elapsedMs (wall-clock time spent in "training", gaps between slices included), longestSliceMs}
 * trainer.set({lr, batch, epochs}) -> message or "" (validated: the message names the input, the value, the fix)
 */
(function () {
  "use strict";
  const T = typeof module !== "undefined" && module.exports ? require("./lenet_train.js") : window.classicnetsTrain;
  const MAX_LOSS = 100; // cross-entropy of 100 nats: the right class's probability below e^-100

  const RULES = {
    lr: { label: "learning rate", example: "0.05", ok: (v) => Number.isFinite(v) && v > 0, range: "a positive number" },
    batch: { label: "batch size", example: "32", whole: true, min: 1 },
    epochs: { label: "epochs", example: "4", whole: true, min: 1, max: 50 },
  };

  /** Number(text) checked against RULES[key]: {value} or {message} naming the input, the value and the fix. */
  function parseSetting(key, text, maxBatch) {
    const r = RULES[key], v = typeof text === "number" ? text : String(text).trim() === "" ? NaN : Number(text);
    const max = key === "batch" ? maxBatch : r.max;
    const ok = r.whole ? Number.isInteger(v) && v >= r.min && v <= max : r.ok(v);
    if (ok) return { value: v };
    const range = r.whole ? "a whole number from " + r.min + " to " + max : r.range;
    return { message: r.label + " must be " + range + ", got " + JSON.stringify(String(text)) + ": type e.g. " + r.example };
  }

  function permutation(n, rand) {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)), t = p[i]; p[i] = p[j]; p[j] = t; }
    return p;
  }

  function createTrainer(data, options) {
    const now = options.now || (() => performance.now());
    const tr = { data: data, state: null, net: null };
    const train = data.train, test = data.test, halfEpoch = Math.ceil(train.count / 2);
    let order, pos, rand, batchLoss, inBatch, evalAt, evaluating, target, runStart, lastTick = 0;

    tr.reset = function (changes) {
      const s = Object.assign({}, tr.state || options, changes || {});
      tr.net = T.createNet(s.variant, T.initParams(s.seed));
      rand = T.random(s.seed + 1);
      order = permutation(train.count, rand);
      pos = 0; batchLoss = 0; inBatch = 0; evalAt = halfEpoch; evaluating = null;
      target = s.epochs * train.count; runStart = 0;
      tr.state = {
        variant: s.variant, lr: s.lr, batch: s.batch, momentum: s.momentum, epochs: s.epochs, seed: s.seed,
        status: "ready", lrNow: s.lr, step: 0, seen: 0, epoch: 0, losses: [], evals: [], confusion: null, message: "",
        elapsedMs: 0, longestSliceMs: 0, trainCount: train.count, testCount: test.count,
      };
      return tr;
    };

    tr.set = function (changes) {
      for (const key of Object.keys(changes)) {
        const r = parseSetting(key, changes[key], train.count);
        if (r.message) return r.message;
        tr.state[key] = r.value;
        if (key === "epochs") target = Math.max(r.value * train.count, tr.state.seen);
      }
      return "";
    };

    tr.start = function () {
      const s = tr.state;
      if (s.status === "diverged") return s.message;
      if (s.status === "done") { runStart = s.seen; target = s.seen + s.epochs * train.count; evalAt = s.seen + halfEpoch; }
      if (s.status !== "training") lastTick = now();
      s.status = "training";
      return "";
    };
    tr.pause = function () {
      if (tr.state.status !== "training") return;
      tr.state.elapsedMs += now() - lastTick;
      tr.state.status = "paused";
    };

    function startEval(final) { evaluating = { i: 0, correct: 0, confusion: new Array(100).fill(0), final: final }; }

    function evalOne() {
      const e = evaluating, z = T.logits(tr.net, test.x, e.i * 1024);
      let best = 0;
      for (let k = 1; k < 10; k++) if (z[k] > z[best]) best = k;
      const label = test.labels[e.i];
      e.confusion[label * 10 + best] += 1;
      if (best === label) e.correct += 1;
      if (++e.i < test.count) return;
      const s = tr.state;
      s.evals.push({ step: s.step, seen: s.seen, accuracy: e.correct / test.count });
      s.confusion = e.confusion;
      evaluating = null;
      if (e.final) s.status = "done";
    }

    function trainOne() {
      const s = tr.state, n = order[pos];
      batchLoss += T.accumulate(tr.net, train.x, n * 1024, train.labels[n], 1 / s.batch);
      inBatch += 1; s.seen += 1; pos += 1;
      if (pos === train.count) { order = permutation(train.count, rand); pos = 0; }
      s.epoch = s.seen / train.count;
      if (inBatch < s.batch) return;
      const loss = batchLoss / s.batch;
      batchLoss = 0; inBatch = 0;
      if (!(loss <= MAX_LOSS)) {
        s.status = "diverged";
        s.message = "loss is " + (Number.isNaN(loss) ? "NaN" : loss.toPrecision(3)) + " at step " + (s.step + 1) +
          " — lower the learning rate (it is " + s.lr + "), then press Reset";
        return;
      }
      s.lrNow = s.lr * Math.max(0, 1 - (s.seen - s.batch - runStart) / (target - runStart));
      T.sgdStep(tr.net, s.lrNow, s.momentum);
      s.step += 1;
      s.losses.push(loss);
      if (s.seen >= target) startEval(true);
      else if (s.seen >= evalAt) { evalAt += halfEpoch; startEval(false); }
    }

    /** Train (or evaluate) for about `ms` milliseconds; returns the number of units done. */
    tr.work = function (ms) {
      const t0 = now(), end = t0 + ms;
      let units = 0;
      while (tr.state.status === "training") {
        if (evaluating) evalOne(); else trainOne();
        units += 1;
        if (now() >= end) break;
      }
      const t1 = now();
      if (units) { tr.state.elapsedMs += t1 - lastTick; lastTick = t1; }
      tr.state.longestSliceMs = Math.max(tr.state.longestSliceMs, t1 - t0);
      return units;
    };

    return tr.reset();
  }

  const loop = { MAX_LOSS: MAX_LOSS, parseSetting: parseSetting, permutation: permutation, createTrainer: createTrainer };
  if (typeof module !== "undefined" && module.exports) module.exports = Object.assign({}, T, loop);
  if (typeof window !== "undefined") Object.assign(window.classicnetsTrain, loop);
})();
