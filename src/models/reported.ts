/**
 * ImageNet-1k top-1 accuracies (single model, %) as the paper that introduced each network
 * reports them (its own evaluation protocol, cited per row), for `compare`. torchvision's figures
 * for its weights live with the weights (src/hub/torchvision.ts). Browser-safe data.
 */
export interface ReportedAccuracy {
  /** Registry arch name. */
  arch: string;
  /** Width multiplier α the row is for (undefined: the architecture's default). */
  widthMult?: number;
  /** Input side the row is for (undefined: the architecture's default). */
  resolution?: number;
  /** Top-1 as the introducing paper reports it, and where. */
  paper: { top1: number; source: string };
}

const HE = "He et al. 2015, Table 2/3 (10-crop)";
const VGG = "Simonyan & Zisserman 2015, Table 3 (single scale, S=256)";
const MNV1_T6 = "Howard et al. 2017, Table 6";
const MNV1_T7 = "Howard et al. 2017, Table 7";
const EFF = "Tan & Le 2019 (arXiv v5), Table 2";
const EFF2 = "Tan & Le 2021, Table 7 (ImageNet-1k only)";

export const REPORTED: readonly ReportedAccuracy[] = [
  { arch: "resnet18", paper: { top1: 72.12, source: HE } },
  { arch: "resnet34", paper: { top1: 75.48, source: `${HE}, option B` } },
  { arch: "resnet50", paper: { top1: 77.15, source: HE } },
  { arch: "resnet101", paper: { top1: 78.25, source: HE } },
  { arch: "resnet152", paper: { top1: 78.57, source: HE } },
  { arch: "resnet18_plain", paper: { top1: 72.06, source: `${HE}, plain-18` } },
  { arch: "resnet34_plain", paper: { top1: 71.46, source: `${HE}, plain-34` } },
  { arch: "vgg11", paper: { top1: 70.4, source: `${VGG}, config A` } },
  { arch: "vgg13", paper: { top1: 71.3, source: `${VGG}, config B` } },
  { arch: "vgg16", paper: { top1: 73.0, source: `${VGG}, config D` } },
  { arch: "vgg19", paper: { top1: 72.7, source: `${VGG}, config E` } },
  // Szegedy et al. 2014 report only top-5; the MobileNet paper's comparison gives the top-1.
  { arch: "googlenet", paper: { top1: 69.8, source: "Howard et al. 2017, Table 8" } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 224, paper: { top1: 70.6, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.75, resolution: 224, paper: { top1: 68.4, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.5, resolution: 224, paper: { top1: 63.7, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 0.25, resolution: 224, paper: { top1: 50.6, source: MNV1_T6 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 192, paper: { top1: 69.1, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 160, paper: { top1: 67.2, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 1, resolution: 128, paper: { top1: 64.4, source: MNV1_T7 } },
  { arch: "mobilenet_v1", widthMult: 0.5, resolution: 160, paper: { top1: 60.2, source: "Howard et al. 2017, Table 10" } },
  { arch: "mobilenet_v2", widthMult: 1, paper: { top1: 72.0, source: "Sandler et al. 2018, Table 4" } },
  { arch: "mobilenet_v2", widthMult: 1.4, paper: { top1: 74.7, source: "Sandler et al. 2018, Table 4" } },
  { arch: "mobilenet_v3_large", widthMult: 1, paper: { top1: 75.2, source: "Howard et al. 2019, Table 3" } },
  { arch: "mobilenet_v3_large", widthMult: 0.75, paper: { top1: 73.3, source: "Howard et al. 2019, Table 3" } },
  { arch: "mobilenet_v3_small", widthMult: 1, paper: { top1: 67.4, source: "Howard et al. 2019, Table 3" } },
  { arch: "mobilenet_v3_small", widthMult: 0.75, paper: { top1: 65.4, source: "Howard et al. 2019, Table 3" } },
  { arch: "efficientnet_b0", paper: { top1: 77.1, source: EFF } },
  { arch: "efficientnet_b1", paper: { top1: 79.1, source: EFF } },
  { arch: "efficientnet_b2", paper: { top1: 80.1, source: EFF } },
  { arch: "efficientnet_b3", paper: { top1: 81.6, source: EFF } },
  { arch: "efficientnet_b4", paper: { top1: 82.9, source: EFF } },
  { arch: "efficientnet_b5", paper: { top1: 83.6, source: EFF } },
  { arch: "efficientnet_b6", paper: { top1: 84.0, source: EFF } },
  { arch: "efficientnet_b7", paper: { top1: 84.3, source: EFF } },
  { arch: "efficientnet_v2_s", paper: { top1: 83.9, source: EFF2 } },
  { arch: "efficientnet_v2_m", paper: { top1: 85.1, source: EFF2 } },
  { arch: "efficientnet_v2_l", paper: { top1: 85.7, source: EFF2 } },
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
