/**
 * Keras weights files (Node): the legacy HDF5 layout Keras's `save_weights` and `model.save` write, read with
 * h5wasm (the HDF5 C library compiled to WebAssembly), and Keras's MobileNet V1 mapped onto convzoo's
 * mobilenet_v1 state_dict keys.
 *
 * The layout (Keras's hdf5_format.py): a group holds the attribute `layer_names` (every layer in order, the
 * weightless too); for each layer a group `<layer>` whose attribute `weight_names` lists its datasets, named
 * after the weight tensors: `<layer>/<layer>/kernel:0`. `save_weights` files (the keras-applications downloads)
 * have that at the root, `model.save` files under `/model_weights`. Long attributes may be split into
 * `layer_names0`, `layer_names1` … (HDF5's 64 KiB object-header limit), as Keras reads them.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { InputFileError, WeightsError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { fileKind } from "./files.js";

/** layer name → weight name without the layer prefix and `:0` (`kernel`, `gamma` …) → tensor, in file order. */
export type KerasLayers = Map<string, Map<string, Tensor>>;

type H5 = typeof import("h5wasm/node");
type H5Group = InstanceType<H5["Group"]>;

let h5: Promise<H5> | null = null;
/** h5wasm, loaded (and its wasm compiled) on first use only. */
function loadH5(): Promise<H5> {
  h5 ??= import("h5wasm/node").then(async (m) => {
    // HDF5's errors become thrown Errors instead of an error stack printed to the console.
    (await m.ready).activate_throwing_error_handler();
    return m;
  });
  return h5;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Checks that the file exists and starts with HDF5's signature (at 0, or after a user block of 512·2^k bytes),
 * before the HDF5 library sees it (which would print its own error stack).
 */
async function checkHdf5File(path: string): Promise<void> {
  let handle;
  try {
    // Non-blocking, so a FIFO named as weights cannot hang the open; only regular files are read (files.ts).
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(code === "ENOENT" ? `${path}: no such file` : `${path}: cannot read (${code ?? (e as Error).message})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputFileError(`${path}: is ${fileKind(info)}, not a regular file; expected a Keras .h5 file`);
    const { size } = info;
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      await handle.read(buf, 0, 8, at);
      if (HDF5_SIGNATURE.every((b, i) => buf[i] === b)) return;
    }
  } finally {
    await handle.close();
  }
  throw new WeightsError(`${path}: not an HDF5 file (expected a Keras .h5 weights file)`);
}

/** A string-list attribute as Keras reads it (`load_attributes_from_hdf5_group`): whole, or in numbered chunks. */
function stringsAttr(group: H5Group, name: string): string[] | null {
  const attrs = group.attrs;
  const toStrings = (v: unknown): string[] => {
    if (typeof v === "string") return [v];
    if (Array.isArray(v)) return v.map(String);
    return []; // Keras writes np.asarray([]) (an empty float array) for a weightless layer
  };
  if (name in attrs) return toStrings(attrs[name].value);
  if (!(`${name}0` in attrs)) return null;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...toStrings(attrs[`${name}${i}`].value));
  return out;
}

/** Reads every layer's weights from a Keras HDF5 weights or model file. */
export async function readKerasH5(path: string): Promise<KerasLayers> {
  await checkHdf5File(path);
  const m = await loadH5();
  try {
    return readLayers(m, path);
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(`${path}: cannot read this HDF5 file (damaged or truncated?): ${hdf5Reason(e)}`);
  }
}

/** The innermost line of HDF5's error stack ("… in H5F__super_read(): truncated file: …"), or the message. */
function hdf5Reason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const frames = [...message.matchAll(/#\d+: .* in ([\w]+\(\)): (.+)$/gm)];
  return frames.length ? frames[frames.length - 1][2].trim() : message.split("\n")[0];
}

function readLayers(m: H5, path: string): KerasLayers {
  const file = new m.File(resolve(path), "r");
  try {
    let root: H5Group = file;
    if (stringsAttr(file, "layer_names") === null) {
      const inner = file.get("model_weights");
      if (!(inner instanceof m.Group)) throw new WeightsError(`${path}: an HDF5 file, but not Keras weights: no layer_names attribute`);
      root = inner;
    }
    const layerNames = stringsAttr(root, "layer_names");
    if (layerNames === null) throw new WeightsError(`${path}: an HDF5 file, but not Keras weights: no layer_names attribute`);
    const layers: KerasLayers = new Map();
    for (const layer of layerNames) {
      const group = root.get(layer);
      if (!(group instanceof m.Group)) throw new WeightsError(`${path}: layer ${layer} is listed in layer_names but has no group`);
      const weights = new Map<string, Tensor>();
      for (const weightName of stringsAttr(group, "weight_names") ?? []) {
        const ds = group.get(weightName);
        if (!(ds instanceof m.Dataset)) throw new WeightsError(`${path}: ${layer}'s weight ${weightName} has no dataset`);
        weights.set(shortWeightName(weightName), datasetTensor(ds, `${path}: ${layer}/${weightName}`));
      }
      if (weights.size) layers.set(layer, weights);
    }
    return layers;
  } finally {
    file.close();
  }
}

/** `conv1/kernel:0` → `kernel`; `mobilenet/conv1/kernel:0` (nested models) too. */
function shortWeightName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1).replace(/:\d+$/, "");
}

function datasetTensor(ds: InstanceType<H5["Dataset"]>, what: string): Tensor {
  const shape = ds.shape ?? [];
  const value = ds.value;
  if (value instanceof Float32Array) return { dtype: "float32", shape, data: value };
  if (value instanceof Float64Array) return { dtype: "float64", shape, data: value };
  throw new WeightsError(`${what}: expected float32 or float64 values, found ${String(ds.dtype)}`);
}

/** `perm` of a 4-D tensor's axes (numpy's transpose): out.shape[i] = shape[perm[i]]. */
function transpose4(t: Tensor, perm: readonly [number, number, number, number]): Tensor {
  const s = t.shape;
  const src = t.data as Float32Array | Float64Array;
  const outShape = perm.map((p) => s[p]);
  const stride = [s[1] * s[2] * s[3], s[2] * s[3], s[3], 1];
  const st = perm.map((p) => stride[p]);
  const out = new Float32Array(src.length);
  let o = 0;
  for (let a = 0; a < outShape[0]; a++)
    for (let b = 0; b < outShape[1]; b++)
      for (let c = 0; c < outShape[2]; c++) {
        const base = a * st[0] + b * st[1] + c * st[2];
        for (let d = 0; d < outShape[3]; d++) out[o++] = src[base + d * st[3]];
      }
  return { dtype: "float32", shape: outShape, data: out };
}

/** Keras Conv2D kernel (H, W, in, out) → PyTorch (out, in, H, W). */
const convKernel = (t: Tensor) => transpose4(t, [3, 2, 0, 1]);
/** Keras DepthwiseConv2D kernel (H, W, C, 1) → PyTorch (C, 1, H, W) (depth multiplier 1: MobileNet's). */
const depthwiseKernel = (t: Tensor) => transpose4(t, [2, 3, 0, 1]);

/** Keras BatchNormalization → PyTorch BatchNorm2d (the ε, 1e-3, is the model's: mobilenet_v1's padding "tf"). */
const BN_NAMES: Record<string, string> = { gamma: "weight", beta: "bias", moving_mean: "running_mean", moving_variance: "running_var" };

/**
 * Keras's MobileNet V1 layers (keras/applications/mobilenet.py) as convzoo's mobilenet_v1 state_dict:
 * conv1(+_bn) → features.0.{0,1}; conv_dw_K(+_bn) → features.K.depthwise.{0,1}; conv_pw_K(+_bn) →
 * features.K.pointwise.{0,1}; the 1x1 conv_preds (kernel (1, 1, C, classes) and bias) → the Linear classifier.1.
 * A layer or weight outside that scheme is an error, naming it.
 */
export function kerasMobileNetV1StateDict(layers: KerasLayers, source: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const unknown = (what: string): never => {
    const layout = "conv1, conv_dw_K, conv_pw_K and their _bn, conv_preds";
    throw new WeightsError(`${source}: ${what} is not part of Keras's MobileNet V1 (${layout})`);
  };
  for (const [layer, weights] of layers) {
    const m = /^(?:conv1|conv_(dw|pw)_(\d+))(_bn)?$/.exec(layer);
    if (layer === "conv_preds") {
      for (const [name, t] of weights) {
        if (name === "kernel") {
          if (t.shape.length !== 4 || t.shape[0] !== 1 || t.shape[1] !== 1) unknown(`conv_preds/kernel of shape [${t.shape.join(", ")}]`);
          const k = convKernel(t);
          out.set("classifier.1.weight", { dtype: "float32", shape: [k.shape[0], k.shape[1]], data: k.data });
        } else if (name === "bias") out.set("classifier.1.bias", t);
        else unknown(`conv_preds/${name}`);
      }
      continue;
    }
    if (!m) unknown(`layer ${layer}`);
    const [, kind, block, bn] = m!;
    const prefix = kind ? `features.${Number(block)}.${kind === "dw" ? "depthwise" : "pointwise"}` : "features.0";
    for (const [name, t] of weights) {
      if (bn) {
        const key = BN_NAMES[name];
        if (!key) unknown(`${layer}/${name}`);
        out.set(`${prefix}.1.${key}`, t);
      } else if (name === "kernel" && kind !== "dw") {
        if (t.shape.length !== 4) unknown(`${layer}/kernel of shape [${t.shape.join(", ")}]`);
        out.set(`${prefix}.0.weight`, convKernel(t));
      } else if (name === "depthwise_kernel" && kind === "dw") {
        if (t.shape.length !== 4 || t.shape[3] !== 1) unknown(`${layer}/depthwise_kernel of shape [${t.shape.join(", ")}]`);
        out.set(`${prefix}.0.weight`, depthwiseKernel(t));
      } else unknown(`${layer}/${name}`);
    }
  }
  return out;
}

/** A Keras MobileNet V1 .h5 (with top) as convzoo's mobilenet_v1 state_dict. */
export async function readKerasMobileNetV1(path: string): Promise<{ path: string; tensors: Map<string, Tensor>; metadata: null }> {
  return { path, tensors: kerasMobileNetV1StateDict(await readKerasH5(path), path), metadata: null };
}
