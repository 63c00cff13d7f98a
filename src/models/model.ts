/**
 * What a built model is: the Module tree (whose parameter paths are torchvision's state_dict keys),
 * the architecture name and options it was built from, and the facts tools need about it.
 */
import type { Preprocessing } from "./preprocessing.js";
import type { Module } from "../nn/module.js";

/** Options every architecture accepts; families document which extra ones they take. */
export interface ModelOptions {
  /** Classifier outputs; 1000 (ImageNet-1k) by default. */
  numClasses?: number;
  /** Channel width multiplier α (MobileNets). */
  widthMult?: number;
  /** Classifier dropout rate override. */
  dropout?: number;
  /** Compound scaling coefficient φ (EfficientNet): depth 1.2^φ, width 1.1^φ, resolution 1.15^φ. */
  phi?: number;
  /** Maximum stochastic-depth rate (EfficientNet; the last block's, growing linearly from 0). */
  dropPath?: number;
  /**
   * MobileNet V1's padding: "symmetric" (PyTorch's, the default) or "tf", Keras's MobileNet V1 exactly: stride-2
   * convs pad one zero row/column at the bottom/right only, and with it BatchNorm ε 1e-3 and ReLU6 (for Google's weights).
   */
  padding?: Padding;
}

export type Padding = "symmetric" | "tf";

/** Options after defaults were applied and ranges checked; stored in checkpoints' metadata. */
export interface ResolvedOptions {
  numClasses: number;
  widthMult?: number;
  dropout?: number;
  phi?: number;
  dropPath?: number;
  padding?: Padding;
}

export interface Model {
  readonly arch: string;
  readonly options: ResolvedOptions;
  /** Root module: its forward maps a normalised [N, 3, H, W] batch to logits [N, numClasses]. */
  readonly net: Module;
  /** Path of the final classifier layer (`fc`, `classifier.1`): re-initialised for a new class count. */
  readonly classifier: string;
  /** Path prefixes of the head (after global pooling); the rest is the backbone. */
  readonly head: readonly string[];
  /** Modules whose outputs are the per-stage feature maps, shallow to deep (see featureInfo). */
  readonly stages: readonly string[];
  /** Path prefixes a checkpoint may omit (training-only parts such as auxiliary classifiers). */
  readonly optional: readonly string[];
  /** The resolution the architecture was designed for (224 for the ImageNet models). */
  readonly defaultResolution: number;
  /** Smallest input side the network accepts (every stride-2 stage needs at least one pixel). */
  readonly minResolution: number;
  /** Family-specific derived figures shown by `summary` (e.g. EfficientNet's scaling factors). */
  readonly details: Readonly<Record<string, number | string>>;
  /** The eval transform of the reference weights; weights files may carry their own. */
  readonly preprocessing: Preprocessing;
}
