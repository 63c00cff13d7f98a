/**
 * What a named set of pretrained weights is: where its file lives, what the file holds, and the
 * preprocessing, classes and published accuracy that go with it (torchvision's `Weights` enum
 * entries, as data).
 */
import type { ModelOptions } from "../models/model.js";
import type { Preprocessing } from "../models/preprocessing.js";

/** A row of torchvision's table as it states it (src/hub/torchvision.ts). */
export interface TorchvisionWeights {
  /** `<arch>.<tag>`: `resnet50.IMAGENET1K_V2`. */
  name: string;
  url: string;
  transforms: Preprocessing;
  /** ImageNet-1k top-1 / top-5 (%); null where torchvision publishes none (feature-only weights). */
  metrics: { acc1: number; acc5: number } | null;
  numParams: number;
  /** Smallest input side torchvision allows for these weights. */
  minSize: number;
  recipe: string;
  /** "imagenet1k": the 1000 ImageNet classes; null: the file has no usable classifier. */
  classes: "imagenet1k" | null;
  default?: true;
}

/** How a weights file's tensors become convzoo's state_dict. */
export type WeightsFormat = "torchvision" | "keras-mobilenet-v1";

export interface WeightsEntry {
  name: string;
  arch: string;
  tag: string;
  url: string;
  /** The file name in the caches (torch.hub's, with its SHA-256 prefix: `resnet50-11ad3fa6.pth`). */
  file: string;
  format: WeightsFormat;
  /** The eval transform the weights were trained and measured with. */
  transforms: Preprocessing;
  metrics: { acc1: number; acc5: number } | null;
  numParams: number;
  minSize: number;
  /** Output classes of the file's classifier; null when it has none usable (a backbone only). */
  numClasses: number | null;
  classes: readonly string[] | null;
  recipe: string;
  /** The arch's `DEFAULT` (torchvision's best weights for it). */
  isDefault: boolean;
  /** Options the architecture needs for these weights (e.g. width and padding of Keras's MobileNet V1). */
  modelOptions?: ModelOptions;
  /** Where the figures come from (shown by `convzoo weights info`). */
  source: string;
}
