/**
 * ImageNet-1k top-1 accuracies (single model, %) as published, for `compare`. Two sources per
 * row where they exist: the paper that introduced the network (its own evaluation protocol, cited
 * per row), and torchvision's reference weights (one protocol for all: single 224-or-native centre
 * crop; from each weight enum's `_metrics["ImageNet-1K"]["acc@1"]` in torchvision 0.14).
 * Browser-safe data.
 */
export interface ReportedAccuracy {
  /** Registry arch name. */
  arch: string;
  /** Width multiplier α the row is for (undefined: the architecture's default). */
  widthMult?: number;
  /** Input side the row is for (undefined: the architecture's default). */
  resolution?: number;
  /** Top-1 as the introducing paper reports it, and where. */
  paper?: { top1: number; source: string };
  /** Top-1 of torchvision's IMAGENET1K_V1 weights. */
  torchvision?: number;
}

const HE = "He et al. 2015, Table 2/3 (10-crop)";
const VGG = "Simonyan & Zisserman 2015, Table 3 (single scale, S=256)";
const MNV1_T6 = "Howard et al. 2017, Table 6";
const MNV1_T7 = "Howard et al. 2017, Table 7";
const EFF = "Tan & Le 2019 (arXiv v5), Table 2";
const EFF2 = "Tan & Le 2021, Table 7 (ImageNet-1k only)";

export const REPORTED: readonly ReportedAccuracy[] = [
  { arch: "resnet18", paper: { top1: 72.12, source: HE }, torchvision: 69.758 },
  { arch: "resnet34", paper: { top1: 75.48, source: `${HE}, option B` }, torchvision: 73.314 },
  { arch: "resnet50", paper: { top1: 77.15, source: HE }, torchvision: 76.13 },
  { arch: "resnet101", paper: { top1: 78.25, source: HE }, torchvision: 77.374 },
  { arch: "resnet152", paper: { top1: 78.57, source: HE }, torchvision: 78.312 },
  { arch: "resnet18_plain", paper: { top1: 72.06, source: `${HE}, plain-18` } },
  { arch: "resnet34_plain", paper: { top1: 71.46, source: `${HE}, plain-34` } },
  { arch: "vgg11", paper: { top1: 70.4, source: `${VGG}, config A` }, torchvision: 69.02 },
  { arch: "vgg13", paper: { top1: 71.3, source: `${VGG}, config B` }, torchvision: 69.928 },
  { arch: "vgg16", paper: { top1: 73.0, source: `${VGG}, config D` }, torchvision: 71.592 },
  { arch: "vgg19", paper: { top1: 72.7, source: `${VGG}, config E` }, torchvision: 72.376 },
  { arch: "vgg11_bn", torchvision: 70.37 },
  { arch: "vgg13_bn", torchvision: 71.586 },
  { arch: "vgg16_bn", torchvision: 73.36 },
  { arch: "vgg19_bn", torchvision: 74.218 },
  // Szegedy et al. 2014 report only top-5; the MobileNet paper's comparison gives the top-1.
  { arch: "googlenet", paper: { top1: 69.8, source: "Howard et al. 2017, Table 8" }, torchvision: 69.778 },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 224, paper: { top1: 70.6, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.75, resolution: 224, paper: { top1: 68.4, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.5, resolution: 224, paper: { top1: 63.7, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.25, resolution: 224, paper: { top1: 50.6, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 192, paper: { top1: 69.1, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 160, paper: { top1: 67.2, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 128, paper: { top1: 64.4, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 0.5, resolution: 160, paper: { top1: 60.2, source: "Howard et al. 2017, Table 10" } },
  { arch: "mobilenet_v2", widthMult: 1, paper: { top1: 72.0, source: "Sandler et al. 2018, Table 4" }, torchvision: 71.878 },
  { arch: "mobilenet_v2", widthMult: 1.4, paper: { top1: 74.7, source: "Sandler et al. 2018, Table 4" } },
  { arch: "mobilenet_v3_large", widthMult: 1, paper: { top1: 75.2, source: "Howard et al. 2019, Table 3" }, torchvision: 74.042 },
  { arch: "mobilenet_v3_large", widthMult: 0.75, paper: { top1: 73.3, source: "Howard et al. 2019, Table 3" } },
  { arch: "mobilenet_v3_small", widthMult: 1, paper: { top1: 67.4, source: "Howard et al. 2019, Table 3" }, torchvision: 67.668 },
  { arch: "mobilenet_v3_small", widthMult: 0.75, paper: { top1: 65.4, source: "Howard et al. 2019, Table 3" } },
  { arch: "efficientnet_b0", paper: { top1: 77.1, source: EFF }, torchvision: 77.692 },
  { arch: "efficientnet_b1", paper: { top1: 79.1, source: EFF }, torchvision: 78.642 },
  { arch: "efficientnet_b2", paper: { top1: 80.1, source: EFF }, torchvision: 80.608 },
  { arch: "efficientnet_b3", paper: { top1: 81.6, source: EFF }, torchvision: 82.008 },
  { arch: "efficientnet_b4", paper: { top1: 82.9, source: EFF }, torchvision: 83.384 },
  { arch: "efficientnet_b5", paper: { top1: 83.6, source: EFF }, torchvision: 83.444 },
  { arch: "efficientnet_b6", paper: { top1: 84.0, source: EFF }, torchvision: 84.008 },
  { arch: "efficientnet_b7", paper: { top1: 84.3, source: EFF }, torchvision: 84.122 },
  { arch: "efficientnet_v2_s", paper: { top1: 83.9, source: EFF2 }, torchvision: 84.228 },
  { arch: "efficientnet_v2_m", paper: { top1: 85.1, source: EFF2 }, torchvision: 85.112 },
  { arch: "efficientnet_v2_l", paper: { top1: 85.7, source: EFF2 }, torchvision: 85.808 },
  { arch: "efficientnet_v2_xl", paper: { top1: 87.3, source: "Tan & Le 2021, Table 7 (ImageNet-21k pre-training)" } },
];

/** The row for an arch at its options and resolution (a row's unset fields match the defaults). */
export function reportedAccuracy(
  arch: string,
  widthMult: number | undefined,
  resolution: number,
  defaultResolution: number,
): ReportedAccuracy | undefined {
  return REPORTED.find(
    (r) => r.arch === arch && (r.widthMult ?? 1) === (widthMult ?? 1) && (r.resolution ?? defaultResolution) === resolution,
  );
}
