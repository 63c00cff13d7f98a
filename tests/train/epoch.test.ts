/**
 * One epoch of `convzoo train` against torch (issue 4, point 5). torch_epoch.py writes an image folder
 * (images already at the training resolution), torchvision's model with randomised BatchNorm
 * parameters, statistics and biases (initial.pth), and the weights after one epoch of SGD (or
 * AdamW) in file order, computed in float32 (torch's own result) and in float64 (the ground truth).
 * The CLI trains from initial.pth with `--no-shuffle --no-augment` and the same hyper-parameters;
 * its checkpoint is compared with the float64 result on two measures:
 *   - per tensor (every parameter and BatchNorm statistic): max |ours − ref| / max |ref|;
 *   - what the epoch changed, over all trainable parameters together: ‖Δours − Δref‖ / ‖Δref‖
 *     (Δ = final − initial), so a wrong gradient cannot hide behind weights that barely moved.
 * Bounds: 1e-3 per tensor and 1e-2 for the update. Small-batch BatchNorm nets trained in float32
 * are ill-conditioned (a channel of near-zero batch variance amplifies rounding in the backward
 * pass), and where torch's own float32 result misses these bounds a case passes when convzoo is no
 * further from the float64 truth than 2× torch's float32, up to 10× the bounds. Beyond that the
 * reference itself is too ill-conditioned to prove anything: the case is reported as a TODO with
 * its figures, not as a pass. The main cause is an activation input within rounding of a kink
 * (mobilenet_v2 and googlenet with the default start: see RELU6_REGIMES), which those cases avoid
 * by their start. Each case prints both figures and the bound that applied. The epoch must also have moved the weights
 * (≥ 1e-2 of a tensor's scale), and num_batches_tracked must advance by the steps where BatchNorm
 * trained and stay put where it was frozen.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { readWeightsFile } from "../../src/weights/files.js";
import type { Tensor } from "../../src/tensor.js";
import { convzoo } from "../helpers/cli.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./torch_epoch.py", import.meta.url));
const TENSOR_TOLERANCE = 1e-3;
const UPDATE_TOLERANCE = 1e-2;

interface Case {
  arch: string;
  strategy: "full" | "head" | "partial";
  optimizer?: "sgd" | "adamw";
  nesterov?: boolean;
  weightDecay?: number;
  /** The frozen prefixes torch uses (what --strategy / --freeze must amount to). */
  frozen: string[];
  freezeFlag?: string;
  resolution: number;
  lr: number;
  /**
   * BatchNorm biases to draw each channel's from (with weights in [0.2, 0.4]) instead of the
   * default N(0, 0.2): every channel then stays in one regime of the activation after it (linear,
   * dead or, for ReLU6, saturated) all epoch, far from its kinks; see torch_epoch.py.
   */
  kinkBiases?: number[];
  /** A known open problem: the case runs and prints its figures, and does not fail the suite. */
  todo?: string;
}

// Regimes per activation (see Case.kinkBiases): ReLU6 linear at 3, dead at −11, saturated at 17;
// ReLU linear at 3, dead at −3. With γ ≤ 0.4 a channel reaches a kink only for |x̂| ≥ 7.5, which
// batch normalisation rules out for ≤ 57 values per channel and makes vanishingly rare beyond.
// Why: with the default start, about one ReLU6 input per step lies within float32 rounding of 0
// or 6 (its float32 and float64 values straddle the kink), and one such element moves
// mobilenet_v2's gradient by 0.5–3% (2x2 maps at 64 px); torch's own float32 epoch then lands
// 25% (tensor) / 84% (update) from its float64 one, so nothing can be proven (googlenet: 28% /
// 59%). In these regimes torch float32 is 1e-6 / 2e-4 from float64.
// mobilenet_v2's lr is 3e-4: its head sees 1280 features near 3, so larger steps overshoot.
const RELU6_REGIMES = [3, 3, 3, -11, 17];
const RELU_REGIMES = [3, 3, -3];

const CASES: Case[] = [
  { arch: "resnet18", strategy: "full", frozen: [], resolution: 64, lr: 1e-3 },
  { arch: "resnet18", strategy: "full", frozen: [], resolution: 64, lr: 1e-3, nesterov: true },
  { arch: "resnet18", strategy: "head", frozen: ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"], resolution: 64, lr: 0.05 },
  { arch: "mobilenet_v2", strategy: "full", frozen: [], resolution: 64, lr: 3e-4, kinkBiases: RELU6_REGIMES },
  {
    arch: "mobilenet_v2",
    strategy: "partial",
    frozen: ["features.0", "features.1", "features.2", "features.3"],
    freezeFlag: "features.0,features.1,features.2,features.3",
    resolution: 64,
    lr: 3e-4,
    kinkBiases: RELU6_REGIMES,
  },
  { arch: "mobilenet_v3_small", strategy: "full", frozen: [], resolution: 64, lr: 1e-2 },
  // AdamW: lr 1e-4, since its √v normalisation turns rounding in near-zero gradients into steps
  // of size ~lr (at lr 1e-3 torch's own float32 epoch is 6.8e-4 from float64, at 1e-4 6.6e-5).
  { arch: "mobilenet_v3_small", strategy: "full", frozen: [], resolution: 64, lr: 2e-4, optimizer: "adamw", weightDecay: 0.05 },
  // At 64 px efficientnet_b0's last stages run at 2x2 and 1x1, where batch statistics over 8–16
  // values amplify rounding (torch float32 6.6e-3 from float64); at 128 px, 9e-5.
  { arch: "efficientnet_b0", strategy: "full", frozen: [], resolution: 128, lr: 1e-3 },
  { arch: "googlenet", strategy: "full", frozen: [], resolution: 64, lr: 1e-3, kinkBiases: RELU_REGIMES },
];

function floats(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface Comparison {
  /** Worst per-tensor relative difference and its key. */
  worst: { key: string; diff: number };
  failures: string[];
  /** ‖Δ − Δref‖ / ‖Δref‖ over the trainable parameters. */
  update: number;
  /** max over tensors of max|Δref| / max|ref|: how much the epoch moved the weights. */
  moved: number;
}

function compare(
  ours: Map<string, Tensor>,
  ref: Map<string, Tensor>,
  initial: Map<string, Tensor>,
  trainable: (key: string) => boolean,
): Comparison {
  let worst = { key: "", diff: 0 };
  const failures: string[] = [];
  let num = 0;
  let den = 0;
  let moved = 0;
  for (const [key, r] of ref) {
    if (key.endsWith("num_batches_tracked")) continue;
    const o = ours.get(key);
    assert.ok(o, `the checkpoint has no ${key}`);
    const rv = floats(r);
    const ov = floats(o);
    const scale = maxAbs(rv);
    const diff = maxAbsDiff(ov, rv) / scale;
    if (diff > worst.diff) worst = { key, diff };
    if (!(diff <= TENSOR_TOLERANCE)) failures.push(`${key}: ${diff.toExponential(2)} of max ${scale.toExponential(2)}`);
    if (!trainable(key) || key.endsWith("running_mean") || key.endsWith("running_var")) continue;
    const iv = floats(initial.get(key)!);
    let movedHere = 0;
    for (let i = 0; i < rv.length; i++) {
      const dRef = rv[i] - iv[i];
      const dOurs = ov[i] - iv[i];
      num += (dOurs - dRef) ** 2;
      den += dRef ** 2;
      movedHere = Math.max(movedHere, Math.abs(dRef));
    }
    moved = Math.max(moved, movedHere / scale);
  }
  return { worst, failures, update: Math.sqrt(num / den), moved };
}

for (const c of CASES) {
  const optimizer = c.optimizer ?? "sgd";
  const label = `${c.arch} (${c.strategy}, ${optimizer}${c.nesterov ? " nesterov" : ""})`;
  test(`${label}: one epoch of convzoo train matches torch`, { timeout: 600_000, todo: c.todo }, async (t) => {
    if (!requirePython(t, "torchvision")) return;
    const dir = mkdtempSync(join(tmpdir(), "convzoo-epoch-"));
    try {
      const cfg = {
        arch: c.arch,
        classes: 3,
        // 10 images in batches of 4: 4, 4 and a last short batch of 2.
        per_class: [4, 3, 3],
        resolution: c.resolution,
        batch: 4,
        optimizer,
        lr: c.lr,
        momentum: 0.9,
        weight_decay: c.weightDecay ?? 1e-4,
        nesterov: c.nesterov ? 1 : 0,
        label_smoothing: 0.1,
        frozen: c.frozen,
        ...(c.kinkBiases ? { kink_biases: c.kinkBiases } : {}),
        out: dir,
      };
      writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
      runPython([SCRIPT, join(dir, "config.json")]);
      const ref = JSON.parse(readFileSync(join(dir, "result.json"), "utf8")) as { losses32: number[]; losses64: number[] };

      const ckpt = join(dir, "ours.safetensors");
      const args = ["train", join(dir, "data"), "--arch", c.arch, "--weights", join(dir, "initial.pth"), "--strategy", c.strategy];
      if (c.freezeFlag) args.push("--freeze", c.freezeFlag);
      args.push(
        ...["--epochs", "1", "--batch-size", "4", "--resolution", String(c.resolution), "--optimizer", optimizer, "--lr", String(c.lr)],
      );
      args.push(
        ...[
          "--momentum",
          "0.9",
          "--weight-decay",
          String(c.weightDecay ?? 1e-4),
          "--schedule",
          "constant",
          "--label-smoothing",
          "0.1",
          "--val-split",
          "0",
        ],
      );
      if (c.nesterov) args.push("--nesterov");
      // One epoch exactly as torch runs it: no BatchNorm recalibration (the default would add one here).
      args.push(...["--dropout", "0", "--no-augment", "--no-shuffle", "--no-recalibrate-bn", "--threads", "2", "--json", "--save", ckpt]);
      if (c.arch.startsWith("efficientnet")) args.push("--drop-path", "0");
      const r = convzoo(...args);
      assert.equal(r.status, 0, r.stderr);

      const initial = (await readWeightsFile(join(dir, "initial.pth"))).tensors;
      const ours = (await readWeightsFile(ckpt)).tensors;
      const ref64 = (await readWeightsFile(join(dir, "final64.pth"))).tensors;
      const ref32 = (await readWeightsFile(join(dir, "final32.pth"))).tensors;
      const trainable = (key: string) => !c.frozen.some((p) => key === p || key.startsWith(`${p}.`));
      const mine = compare(ours, ref64, initial, trainable);
      const torch32 = compare(ref32, ref64, initial, trainable);
      t.diagnostic(
        `convzoo vs torch float64: worst tensor ${mine.worst.key} ${mine.worst.diff.toExponential(2)}, update ${mine.update.toExponential(2)}`,
      );
      t.diagnostic(
        `torch float32 vs float64: worst tensor ${torch32.worst.key} ${torch32.worst.diff.toExponential(2)}, update ${torch32.update.toExponential(2)}; epoch moved weights by up to ${mine.moved.toExponential(2)} of their scale; losses64 ${ref.losses64.map((l) => l.toFixed(4)).join(", ")}`,
      );

      // num_batches_tracked: +3 steps where BatchNorm trained, unchanged where frozen.
      for (const [key, t0] of initial) {
        if (!key.endsWith("num_batches_tracked")) continue;
        const before = Number((t0.data as BigInt64Array)[0]);
        const after = Number((ours.get(key)!.data as BigInt64Array)[0]);
        assert.equal(after, before + (trainable(key) ? 3 : 0), key);
      }
      assert.ok(
        mine.moved >= 10 * TENSOR_TOLERANCE,
        `the epoch barely moved the weights (${mine.moved.toExponential(2)}): the comparison could not fail`,
      );
      if (torch32.worst.diff > 10 * TENSOR_TOLERANCE || torch32.update > 10 * UPDATE_TOLERANCE) {
        t.todo(
          `ill-conditioned reference: torch's own float32 epoch is ${torch32.worst.diff.toExponential(2)} (tensor) / ${torch32.update.toExponential(2)} (update) from its float64 one`,
        );
      }
      const tensorBound = Math.min(10 * TENSOR_TOLERANCE, Math.max(TENSOR_TOLERANCE, 2 * torch32.worst.diff));
      const updateBound = Math.min(10 * UPDATE_TOLERANCE, Math.max(UPDATE_TOLERANCE, 2 * torch32.update));
      t.diagnostic(
        `bounds: per tensor ${tensorBound.toExponential(2)}${tensorBound > TENSOR_TOLERANCE ? " (2x torch float32's)" : ""}, update ${updateBound.toExponential(2)}${updateBound > UPDATE_TOLERANCE ? " (2x torch float32's)" : ""}`,
      );
      assert.ok(
        mine.worst.diff <= tensorBound,
        `${mine.worst.key} differs from torch's float64 result by ${mine.worst.diff.toExponential(2)} (> ${tensorBound.toExponential(2)}); all beyond ${TENSOR_TOLERANCE}: ${mine.failures.slice(0, 8).join("; ")}`,
      );
      assert.ok(
        mine.update <= updateBound,
        `the epoch's update differs from torch's float64 one by ${mine.update.toExponential(2)} (> ${updateBound.toExponential(2)})`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
