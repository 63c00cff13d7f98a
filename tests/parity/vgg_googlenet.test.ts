/** VGG and GoogLeNet against torchvision (see harness.ts for what is compared). */
// Registers the families until src/models/index.ts imports them.
import "../../src/models/vgg.js";
import "../../src/models/googlenet.js";
import { torchvisionParity } from "./harness.js";

// (The exporter gives every conv and linear bias a random value, so a bias mix-up shows.)

// GoogLeNet as convzoo builds it: transform_input on (what torchvision's pretrained weights need,
// see GOOGLENET_TRANSFORM_INPUT), aux heads present (torchvision's default without weights), and
// torchvision's init spelled out (otherwise it warns that its default will change). These cases
// check parameters, MACs (so every ceil_mode pooled size) and the BatchNorm paths; with the
// harness's random BatchNorm statistics GoogLeNet's logits barely depend on the input, so the
// input path and transform_input are checked against calibrated references in
// tests/unit/googlenet_aux.test.ts.
const GOOGLENET = "googlenet,transform_input:True,aux_logits:True,init_weights:True";

torchvisionParity("parity with torchvision: VGG, GoogLeNet", {
  // Small inputs keep the 130-140 M-parameter VGGs quick. The adaptive 7x7 pool then spreads a
  // 2x2 (64) or 3x3 (96) map over overlapping bins (the MatMul path); at 224 it is the identity.
  vgg11_r64: "vgg11,resolution:64",
  vgg11_bn_r64: "vgg11_bn,resolution:64",
  vgg13_r64: "vgg13,resolution:64",
  vgg13_bn_r64_k10: "vgg13_bn,resolution:64,num_classes:10",
  vgg16: "vgg16",
  vgg16_bn_r96: "vgg16_bn,resolution:96",
  vgg19_r64: "vgg19,resolution:64",
  vgg19_bn_r64: "vgg19_bn,resolution:64",
  googlenet: GOOGLENET,
  // The smallest input every max-pool accepts (31): ceil_mode decides every pooled size here.
  googlenet_r31: `${GOOGLENET},resolution:31`,
  googlenet_k10_r97: `${GOOGLENET},num_classes:10,resolution:97`,
});
