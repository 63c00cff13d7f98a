import assert from "node:assert/strict";
import { test } from "node:test";
import { WeightsError } from "../../src/errors.js";
import { IMAGENET_EVAL, preprocessingForResolution, validatePreprocessing } from "../../src/models/preprocessing.js";
import { centerCropOffsets, evalTransformRGB, normalizeHWCToCHW, resizeRGB, resizedSize } from "../../src/data/preprocess.js";

test("IMAGENET_EVAL is torchvision's ImageClassification(crop_size=224) recipe", () => {
  assert.deepEqual(IMAGENET_EVAL, {
    resizeSize: 256,
    cropSize: 224,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    interpolation: "bilinear",
  });
  assert.ok(Object.isFrozen(IMAGENET_EVAL) && Object.isFrozen(IMAGENET_EVAL.mean) && Object.isFrozen(IMAGENET_EVAL.std));
});

test("preprocessingForResolution keeps the 0.875 crop ratio, rounding the resize size down", () => {
  assert.equal(preprocessingForResolution(IMAGENET_EVAL, 224).resizeSize, 256);
  assert.equal(preprocessingForResolution(IMAGENET_EVAL, 192).resizeSize, 219); // 219.43
  assert.equal(preprocessingForResolution(IMAGENET_EVAL, 128).resizeSize, 146); // 146.29
  assert.equal(preprocessingForResolution(IMAGENET_EVAL, 299).resizeSize, 341); // 341.71
  const p = preprocessingForResolution(IMAGENET_EVAL, 160);
  assert.equal(p.cropSize, 160);
  assert.deepEqual(p.mean, IMAGENET_EVAL.mean);
  assert.notEqual(p.mean, IMAGENET_EVAL.mean); // a copy, not the frozen preset's array
  // A resize == crop recipe (EfficientNet-B4 style) stays so.
  const same = { ...IMAGENET_EVAL, resizeSize: 380, cropSize: 380 };
  assert.equal(preprocessingForResolution(same, 300).resizeSize, 300);
  assert.throws(() => preprocessingForResolution(IMAGENET_EVAL, 0), RangeError);
  assert.throws(() => preprocessingForResolution(IMAGENET_EVAL, 22.5), RangeError);
});

test("validatePreprocessing accepts good metadata and names the file and field when it is bad", () => {
  const good = { ...IMAGENET_EVAL, mean: [...IMAGENET_EVAL.mean], std: [...IMAGENET_EVAL.std], extra: 1 };
  assert.deepEqual(validatePreprocessing(good, "w.safetensors"), IMAGENET_EVAL);
  const bad: [unknown, RegExp][] = [
    [null, /expected an object, got null/],
    [[1, 2], /expected an object/],
    [{ ...good, resizeSize: "256" }, /resizeSize must be an integer.*got "256"/],
    [{ ...good, cropSize: 0 }, /cropSize must be an integer/],
    [{ ...good, cropSize: 300 }, /cropSize \(300\) must not exceed resizeSize \(256\)/],
    [{ ...good, mean: [0.5, 0.5] }, /mean must be 3 finite numbers/],
    [{ ...good, mean: [0.5, 0.5, null] }, /mean must be 3 finite numbers/],
    [{ ...good, std: [0.2, 0, 0.2] }, /std must be > 0/],
    [{ ...good, interpolation: "lanczos" }, /interpolation must be one of bilinear, bicubic, nearest, got "lanczos"/],
    [{ ...good, interpolation: undefined }, /interpolation .* got nothing/],
  ];
  for (const [value, message] of bad) {
    assert.throws(
      () => validatePreprocessing(value, "w.safetensors"),
      (e: unknown) => e instanceof WeightsError && e.message.startsWith("w.safetensors: ") && message.test(e.message),
      JSON.stringify(value),
    );
  }
});

test("normalizeHWCToCHW: planar layout, (x/255 - mean)/std in float32, optional offset", () => {
  const p = IMAGENET_EVAL;
  // 2x1 image: pixel 0 = (0, 128, 255), pixel 1 = (255, 0, 128)
  const rgb = Uint8Array.from([0, 128, 255, 255, 0, 128]);
  const out = normalizeHWCToCHW(rgb, 2, 1, p);
  const f = (v: number, c: number) => Math.fround((Math.fround(v / 255) - Math.fround(p.mean[c])) / Math.fround(p.std[c]));
  assert.deepEqual([...out], [f(0, 0), f(255, 0), f(128, 1), f(0, 1), f(255, 2), f(128, 2)]);
  assert.ok(Math.abs(out[0] - -0.485 / 0.229) < 1e-6);

  const batch = new Float32Array(14).fill(7);
  normalizeHWCToCHW(rgb, 2, 1, p, batch, 4);
  assert.deepEqual([...batch.subarray(4, 10)], [...out]);
  assert.equal(batch[3], 7);
  assert.equal(batch[10], 7);
  assert.throws(() => normalizeHWCToCHW(rgb, 2, 1, p, batch, 10), RangeError);
  assert.throws(() => normalizeHWCToCHW(rgb, 3, 1, p), RangeError);
});

test("resizedSize matches torchvision: shorter side = size, longer = int(size * long / short)", () => {
  assert.deepEqual(resizedSize(500, 375, 256), { width: 341, height: 256 }); // 341.33
  assert.deepEqual(resizedSize(375, 500, 256), { width: 256, height: 341 });
  assert.deepEqual(resizedSize(512, 515, 256), { width: 256, height: 257 }); // 257.5
  assert.deepEqual(resizedSize(300, 300, 256), { width: 256, height: 256 });
});

test("centerCropOffsets round halves to even like Python's round()", () => {
  assert.deepEqual(centerCropOffsets(256, 256, 224), { left: 16, top: 16 });
  assert.deepEqual(centerCropOffsets(257, 256, 224), { left: 16, top: 16 }); // 16.5 -> 16
  assert.deepEqual(centerCropOffsets(259, 341, 224), { left: 18, top: 58 }); // 17.5 -> 18, 58.5 -> 58
});

test("resizeRGB: same size is the identity, a flat image stays flat, windows are sub-images", () => {
  const w = 7;
  const h = 5;
  const img = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  for (const interp of ["bilinear", "bicubic", "nearest"] as const) {
    assert.deepEqual(resizeRGB(img, w, h, w, h, interp), img);
    const flat = new Uint8Array(40 * 30 * 3).fill(93);
    for (const [ow, oh] of [
      [13, 10],
      [80, 60],
      [40, 7],
    ]) {
      assert.ok(
        resizeRGB(flat, 40, 30, ow, oh, interp).every((v) => v === 93),
        `${interp} ${ow}x${oh}`,
      );
    }
    const full = resizeRGB(img, w, h, 11, 3, interp);
    const win = resizeRGB(img, w, h, 11, 3, interp, { left: 2, top: 1, width: 5, height: 2 });
    for (let y = 0; y < 2; y++) {
      assert.deepEqual(win.subarray(y * 15, y * 15 + 15), full.subarray(((y + 1) * 11 + 2) * 3, ((y + 1) * 11 + 7) * 3));
    }
  }
  // Halving: the triangle filter widened 2x takes 3 taps weighted 3:3:1 (normalized); values from
  // PIL: Image.fromarray(...).resize((2, 1), BILINEAR / NEAREST).
  const row = Uint8Array.from([0, 100, 200, 250].flatMap((v) => [v, v, v]));
  assert.deepEqual(
    [...resizeRGB(row, 4, 1, 2, 1, "bilinear")].filter((_, i) => i % 3 === 0),
    [71, 207],
  );
  assert.deepEqual(
    [...resizeRGB(row, 4, 1, 2, 1, "nearest")].filter((_, i) => i % 3 === 0),
    [100, 250],
  );
  assert.throws(() => resizeRGB(img, w, h, 4, 4, "bilinear", { left: 1, top: 0, width: 4, height: 4 }), RangeError);
});

test("evalTransformRGB gives 3 x crop x crop values and rejects crop > resize", () => {
  const img = new Uint8Array(300 * 200 * 3).fill(200);
  const out = evalTransformRGB(img, 300, 200, IMAGENET_EVAL);
  assert.equal(out.length, 3 * 224 * 224);
  const f = (c: number) => Math.fround((Math.fround(200 / 255) - Math.fround(IMAGENET_EVAL.mean[c])) / Math.fround(IMAGENET_EVAL.std[c]));
  assert.equal(out[0], f(0));
  assert.equal(out[224 * 224], f(1));
  assert.equal(out[3 * 224 * 224 - 1], f(2));
  assert.throws(() => evalTransformRGB(img, 300, 200, { ...IMAGENET_EVAL, resizeSize: 200 }), RangeError);
});
