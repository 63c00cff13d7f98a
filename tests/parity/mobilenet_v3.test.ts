/**
 * MobileNetV3 Large and Small against torchvision (see harness.ts for what is compared), at the
 * default width and at α 0.75 / 1.25 (the paper's Table 3 and Fig. 6 multipliers), 0.35 (where
 * `_make_divisible`'s floor of 8 channels bites) and our limit 2, at 224 and other resolutions.
 */
import "../../src/models/mobilenet_v3.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModel, OptionError } from "../../src/index.js";
import { torchvisionParity } from "./harness.js";

torchvisionParity("parity with torchvision: MobileNetV3", {
  mobilenet_v3_large: "mobilenet_v3_large",
  mobilenet_v3_small: "mobilenet_v3_small",
  mobilenet_v3_large_a075_r192_k10: "mobilenet_v3_large,width_mult:0.75,resolution:192,num_classes:10",
  mobilenet_v3_small_a075_r160_k10: "mobilenet_v3_small,width_mult:0.75,resolution:160,num_classes:10",
  mobilenet_v3_large_a125_r160_k10: "mobilenet_v3_large,width_mult:1.25,resolution:160,num_classes:10",
  mobilenet_v3_small_a125_r128: "mobilenet_v3_small,width_mult:1.25,resolution:128",
  mobilenet_v3_small_a035_r96_k10: "mobilenet_v3_small,width_mult:0.35,resolution:96,num_classes:10",
  mobilenet_v3_large_a200_r96_k10: "mobilenet_v3_large,width_mult:2.0,resolution:96,num_classes:10",
});

test("MobileNetV3 parameter counts equal torchvision's published num_params", () => {
  assert.equal(createModel("mobilenet_v3_large").net.parameterCount(), 5_483_032);
  assert.equal(createModel("mobilenet_v3_small").net.parameterCount(), 2_542_856);
});

test("MobileNetV3 α must be in (0, 2]", () => {
  for (const arch of ["mobilenet_v3_large", "mobilenet_v3_small"]) {
    for (const bad of [0, 2.01]) {
      assert.throws(
        () => createModel(arch, { widthMult: bad }),
        (e: Error) => e instanceof OptionError && e.message.includes("width multiplier α must be in (0, 2]"),
      );
    }
  }
});
