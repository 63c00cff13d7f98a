/** ResNet and MobileNetV2 against torchvision (see harness.ts for what is compared). */
import { torchvisionParity } from "./harness.js";

torchvisionParity("parity with torchvision: ResNet, MobileNetV2", {
  resnet18: "resnet18",
  resnet34: "resnet34",
  resnet50: "resnet50",
  // The deep ones with small residual-branch γ (zero_init_residual, see export_torchvision.py).
  resnet101: "resnet101,resolution:192,zero_init_residual:True",
  resnet152: "resnet152,resolution:160,zero_init_residual:True",
  resnet50_k10_r128: "resnet50,num_classes:10,resolution:128",
  mobilenet_v2: "mobilenet_v2",
  mobilenet_v2_a050_r160_k10: "mobilenet_v2,width_mult:0.5,resolution:160,num_classes:10",
  mobilenet_v2_a140: "mobilenet_v2,width_mult:1.4",
  mobilenet_v2_a035_r96: "mobilenet_v2,width_mult:0.35,resolution:96",
});
