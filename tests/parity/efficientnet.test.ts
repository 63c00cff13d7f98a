/**
 * EfficientNet B0–B7 and EfficientNetV2 S/M/L against torchvision (see harness.ts for what is
 * compared). The large variants run at small inputs to keep the suite short: parameters and
 * structure do not depend on the resolution, and 64 px still passes every block (stride 32 → 2x2).
 */
import "../../src/models/efficientnet.js";
import { torchvisionParity } from "./harness.js";

torchvisionParity("parity with torchvision: EfficientNet B0–B7, V2 S/M/L", {
  efficientnet_b0: "efficientnet_b0",
  efficientnet_b1_k10_r128: "efficientnet_b1,resolution:128,num_classes:10",
  efficientnet_b2_r128: "efficientnet_b2,resolution:128",
  efficientnet_b3_r96: "efficientnet_b3,resolution:96",
  efficientnet_b4_r96: "efficientnet_b4,resolution:96",
  // B5–B7 use TF's BatchNorm eps 1e-3: randomised running statistics make a wrong eps visible.
  efficientnet_b5_r64: "efficientnet_b5,resolution:64",
  efficientnet_b6_r64: "efficientnet_b6,resolution:64",
  efficientnet_b7_r64: "efficientnet_b7,resolution:64",
  efficientnet_v2_s_k10_r128: "efficientnet_v2_s,resolution:128,num_classes:10",
  efficientnet_v2_m_r64: "efficientnet_v2_m,resolution:64",
  efficientnet_v2_l_r64: "efficientnet_v2_l,resolution:64",
});
