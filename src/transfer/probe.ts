/**
 * The linear probe (browser-safe, no Node imports): held-out accuracy of a *linear* read-out of frozen features,
 * the standard transferability measure (Kornblith, Shlens & Le 2019 §3: L2-regularised multinomial logistic
 * regression on the penultimate layer). Fixed recipe: seeded stratified split, standardisation on the training
 * rows, mean cross-entropy + (λ/2)·‖W‖² (λ = 0.01) minimised by Nesterov's accelerated gradient (step 1/L, 300
 * iterations; Nesterov 2004 §2.2), in the span of the training rows when features outnumber them (VGG's 25088).
 * Recipe, the choice of λ and the dual form: docs/transfer-learning.md#linear-probe
 */
import { OptionError } from "../errors.js";
import { Random } from "../random.js";

export interface ProbeOptions {
  /** Seed of the stratified split; default 0. */
  seed?: number;
  /** Share of each class held out; default 0.25. */
  testFraction?: number;
  /** L2 penalty λ on the mean cross-entropy (standardised features); default 0.01. */
  l2?: number;
  /** Accelerated-gradient iterations; default 300. */
  iterations?: number;
  /**
   * Which form iterates: `auto` (default) the primal when dims ≤ training rows, else the Gram form;
   * the two give the same models (forcing one exists to test exactly that).
   */
  form?: "auto" | "primal" | "gram";
}

export interface ProbeResult {
  /** Held-out accuracy. */
  accuracy: number;
  /** Accuracy of always answering the held-out rows' most frequent class. */
  chance: number;
  /** (accuracy − chance) / (1 − chance): 0 at chance, 1 when every held-out row is right. */
  normalized: number;
  trainAccuracy: number;
  classes: number;
  trainCount: number;
  testCount: number;
  dims: number;
  l2: number;
  iterations: number;
}

export const PROBE_DEFAULTS = { seed: 0, testFraction: 0.25, l2: 0.01, iterations: 300, form: "auto" } as const;

/**
 * Fits the probe on rows `data` [n, dims] (row-major) with labels in [0, classes) and returns its
 * held-out accuracy (recipe: docs/transfer-learning.md#recipe).
 */
export function linearProbe(
  data: Float32Array,
  dims: number,
  labels: readonly number[],
  classes: number,
  options: ProbeOptions = {},
): ProbeResult {
  const o = { ...PROBE_DEFAULTS, ...options };
  const n = labels.length;
  if (!Number.isInteger(dims) || dims < 1 || data.length !== n * dims)
    throw new OptionError(`linear probe: ${data.length} values are not ${n} rows of ${dims} features`);
  if (!Number.isInteger(classes) || classes < 2) throw new OptionError(`linear probe: needs at least 2 classes, got ${classes}`);
  for (const y of labels)
    if (!Number.isInteger(y) || y < 0 || y >= classes)
      throw new OptionError(`linear probe: label ${y} is not a class index in [0, ${classes})`);
  if (!(o.testFraction > 0 && o.testFraction < 1))
    throw new OptionError(`linear probe: test fraction must be in (0, 1), got ${o.testFraction}`);
  if (!(o.l2 > 0)) throw new OptionError(`linear probe: the L2 penalty must be positive, got ${o.l2}`);
  if (!Number.isInteger(o.iterations) || o.iterations < 1)
    throw new OptionError(`linear probe: iterations must be a positive integer, got ${o.iterations}`);

  const { train, test } = splitRows(labels, o.testFraction, o.seed);
  if (test.length === 0) throw new OptionError("linear probe: no class has two images, so nothing can be held out");
  const { xTrain, xTest } = standardize(data, dims, train, test);
  const yTrain = train.map((i) => labels[i]);
  const yTest = test.map((i) => labels[i]);
  const gram = o.form === "gram" || (o.form === "auto" && dims > train.length);
  const model = fitSoftmax(xTrain, yTrain, dims, classes, o.l2, o.iterations, gram);
  const accuracy = accuracyOf(model.predict(xTest, test.length), yTest);
  const trainAccuracy = accuracyOf(model.predict(xTrain, train.length), yTrain);
  const counts = new Array<number>(classes).fill(0);
  for (const y of yTest) counts[y]++;
  const chance = Math.max(...counts) / test.length;
  return {
    accuracy,
    chance,
    normalized: (accuracy - chance) / (1 - chance),
    trainAccuracy,
    classes,
    trainCount: train.length,
    testCount: test.length,
    dims,
    l2: o.l2,
    iterations: o.iterations,
  };
}

/** Seeded stratified split of row indices (the rule of data/folder.ts's stratifiedSplit). */
function splitRows(labels: readonly number[], fraction: number, seed: number): { train: number[]; test: number[] } {
  const rng = new Random(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    const list = byClass.get(y);
    if (list) list.push(i);
    else byClass.set(y, [i]);
  });
  const inTest = new Set<number>();
  for (const rows of [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r)) {
    const k = rows.length < 2 ? 0 : Math.min(rows.length - 1, Math.max(1, Math.round(fraction * rows.length)));
    for (const i of rng.shuffle([...rows]).slice(0, k)) inTest.add(i);
  }
  const all = labels.map((_, i) => i);
  return { train: all.filter((i) => !inTest.has(i)), test: all.filter((i) => inTest.has(i)) };
}

/** Rows gathered into float64 matrices, standardised with the training rows' statistics. */
function standardize(
  data: Float32Array,
  dims: number,
  train: readonly number[],
  test: readonly number[],
): { xTrain: Float64Array; xTest: Float64Array } {
  const mean = new Float64Array(dims);
  const sq = new Float64Array(dims);
  for (const i of train) {
    for (let d = 0; d < dims; d++) {
      const v = data[i * dims + d];
      mean[d] += v;
      sq[d] += v * v;
    }
  }
  const scale = new Float64Array(dims);
  for (let d = 0; d < dims; d++) {
    mean[d] /= train.length;
    const variance = Math.max(0, sq[d] / train.length - mean[d] * mean[d]);
    // A feature constant on the training rows carries nothing: it is zeroed, not blown up.
    scale[d] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 0;
  }
  const gather = (rows: readonly number[]) => {
    const x = new Float64Array(rows.length * dims);
    rows.forEach((i, r) => {
      for (let d = 0; d < dims; d++) x[r * dims + d] = (data[i * dims + d] - mean[d]) * scale[d];
    });
    return x;
  };
  return { xTrain: gather(train), xTest: gather(test) };
}

interface Fitted {
  /** Class predictions for rows x [m, dims]. */
  predict(x: Float64Array, m: number): number[];
}

/** out [n, k] = a [n, inner] · b [inner, k] (all row-major). */
function matmul(a: Float64Array, b: Float64Array, n: number, inner: number, k: number, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    for (let j = 0; j < inner; j++) {
      const v = a[i * inner + j];
      if (v === 0) continue;
      const bj = j * k;
      for (let c = 0; c < k; c++) out[o + c] += v * b[bj + c];
    }
  }
}

/** out [inner, k] = aᵀ · r for a [n, inner], r [n, k]. */
function matmulTransposed(a: Float64Array, r: Float64Array, n: number, inner: number, k: number, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const ri = i * k;
    for (let j = 0; j < inner; j++) {
      const v = a[i * inner + j];
      if (v === 0) continue;
      const oj = j * k;
      for (let c = 0; c < k; c++) out[oj + c] += v * r[ri + c];
    }
  }
}

/** λmax of the symmetric PSD operator `apply` on vectors of length m (power iteration, fixed start). */
function largestEigenvalue(m: number, apply: (v: Float64Array, out: Float64Array) => void): number {
  let v = new Float64Array(m).fill(1 / Math.sqrt(m));
  let w = new Float64Array(m);
  let lambda = 0;
  for (let it = 0; it < 50; it++) {
    apply(v, w);
    let norm = 0;
    for (let i = 0; i < m; i++) norm += w[i] * w[i];
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    lambda = norm;
    for (let i = 0; i < m; i++) w[i] /= norm;
    [v, w] = [w, v];
  }
  return lambda;
}

/**
 * Multinomial logistic regression by accelerated gradient (docs/transfer-learning.md#recipe), in the primal
 * or (`dual`) the Gram form.
 */
function fitSoftmax(x: Float64Array, y: readonly number[], dims: number, k: number, l2: number, iterations: number, dual: boolean): Fitted {
  const n = y.length;
  // The iterated matrix F: X itself [n, dims], or the Gram matrix G = XXᵀ [n, n].
  const width = dual ? n : dims;
  let f = x;
  if (dual) {
    f = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        let s = 0;
        for (let d = 0; d < dims; d++) s += x[i * dims + d] * x[j * dims + d];
        f[i * n + j] = s;
        f[j * n + i] = s;
      }
    }
  }
  // λmax(XᵀX/n) = λmax(XXᵀ/n); the bias acts as a further, uncorrelated unit-variance feature
  // (the features are centred), hence max(·, 1). 5% margin over the power-iteration estimate.
  const tmp = new Float64Array(n);
  const gram = dual
    ? largestEigenvalue(n, (v, out) => {
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += f[i * n + j] * v[j];
          out[i] = s / n;
        }
      })
    : largestEigenvalue(dims, (v, out) => {
        matmul(x, v, n, dims, 1, tmp);
        matmulTransposed(x, tmp, n, dims, 1, out);
        for (let d = 0; d < dims; d++) out[d] /= n;
      });
  const lipschitz = 0.5 * Math.max(gram * 1.05, 1) + l2;
  const step = 1 / lipschitz;
  const sqrtKappa = Math.sqrt(lipschitz / l2);
  const momentum = (sqrtKappa - 1) / (sqrtKappa + 1);

  // Iterates (coefficients V [width, k] and bias b [k]) and their extrapolated points.
  let v = new Float64Array(width * k);
  let vPrev = new Float64Array(width * k);
  let b = new Float64Array(k);
  let bPrev = new Float64Array(k);
  const vy = new Float64Array(width * k);
  const by = new Float64Array(k);
  const logits = new Float64Array(n * k);
  const r = new Float64Array(n * k);
  const grad = new Float64Array(width * k);
  for (let t = 0; t < iterations; t++) {
    for (let i = 0; i < v.length; i++) vy[i] = v[i] + momentum * (v[i] - vPrev[i]);
    for (let c = 0; c < k; c++) by[c] = b[c] + momentum * (b[c] - bPrev[c]);
    matmul(f, vy, n, width, k, logits);
    // r = (softmax(logits + b) − onehot(y)) / n
    const gb = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const o = i * k;
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, logits[o + c] + by[c]);
      let sum = 0;
      for (let c = 0; c < k; c++) {
        const e = Math.exp(logits[o + c] + by[c] - max);
        r[o + c] = e;
        sum += e;
      }
      for (let c = 0; c < k; c++) {
        r[o + c] = (r[o + c] / sum - (c === y[i] ? 1 : 0)) / n;
        gb[c] += r[o + c];
      }
    }
    if (dual) grad.set(r);
    else matmulTransposed(x, r, n, dims, k, grad);
    [vPrev, v] = [v, vPrev];
    [bPrev, b] = [b, bPrev];
    for (let i = 0; i < v.length; i++) v[i] = vy[i] - step * (grad[i] + l2 * vy[i]);
    for (let c = 0; c < k; c++) b[c] = by[c] - step * gb[c];
  }
  // The weights W [dims, k]: V itself, or XᵀA in the Gram form.
  let w = v;
  if (dual) {
    w = new Float64Array(dims * k);
    matmulTransposed(x, v, n, dims, k, w);
  }
  const bias = b;
  return {
    predict(rows: Float64Array, m: number): number[] {
      const z = new Float64Array(m * k);
      matmul(rows, w, m, dims, k, z);
      const out: number[] = [];
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (z[i * k + c] + bias[c] > z[i * k + best] + bias[best]) best = c;
        out.push(best);
      }
      return out;
    },
  };
}

function accuracyOf(predicted: readonly number[], labels: readonly number[]): number {
  let right = 0;
  predicted.forEach((p, i) => {
    if (p === labels[i]) right++;
  });
  return labels.length ? right / labels.length : 0;
}
