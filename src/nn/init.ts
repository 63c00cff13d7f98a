/**
 * Weight initialisation by layer type: torchvision's `for m in self.modules(): if isinstance(m, nn.Conv2d): …`
 * loop, written once. A family states its rules; unlisted layers keep torch's defaults (BatchNorm γ=1 β=0,
 * Conv/Linear kaiming_uniform_(a=√5)).
 */
import { Conv2d, Linear } from "./layers.js";
import type { Module } from "./module.js";
import { init, type Init } from "./parameter.js";

export interface LayerInit {
  weight: (shape: readonly number[]) => Init;
  /** Omitted: the bias keeps torch's default. */
  bias?: Init;
}

export interface InitRules {
  conv?: LayerInit;
  linear?: LayerInit;
}

/** Sets the Init of every Conv2d and Linear under `root` by `rules` (data is drawn later, in state_dict order). */
export function initWeights(root: Module, rules: InitRules): void {
  for (const [, m] of root.namedModules()) {
    const rule = m instanceof Conv2d ? rules.conv : m instanceof Linear ? rules.linear : undefined;
    if (!rule) continue;
    const layer = m as Conv2d | Linear;
    layer.weight.init = rule.weight(layer.weight.shape);
    if (layer.bias && rule.bias) layer.bias.init = rule.bias;
  }
}

/**
 * torchvision's VGG, MobileNetV2 and MobileNetV3 init (and ours for MobileNet V1): kaiming_normal_(fan_out, relu)
 * convs, Linear N(0, 0.01), zero biases.
 */
export const FAN_OUT_INIT: InitRules = {
  conv: { weight: init.kaimingNormalFanOut, bias: init.zeros },
  linear: { weight: () => init.normal(0.01), bias: init.zeros },
};
