/**
 * Google's original MobileNet V1 ImageNet weights, as Keras ships them (keras/applications/mobilenet.py): 16 HDF5
 * files, width α ∈ {0.25, 0.5, 0.75, 1.0} × input side ρ ∈ {128, 160, 192, 224}, with the 1000-class top.
 *
 * Names: `mobilenet_v1.KERAS_A<α·100, 3 digits>_R<ρ>`: `mobilenet_v1.KERAS_A025_R128` … `mobilenet_v1.KERAS_A100_R224`
 * (the DEFAULT). Keras's own file names say α as `1_0`, `7_5`, `5_0`, `2_5` (`mobilenet_7_5_160_tf.h5` is α 0.75).
 *
 * URLs: Keras's `BASE_WEIGHT_PATH + "mobilenet_%s_%d_tf.h5" % (alpha_text, rows)`. Keras publishes no hash for
 * them (its `get_file` call passes none) and the names carry none, so hub/download.ts fetches them without a
 * hash check (`hashPrefixOf` is null): they cannot be verified.
 *
 * The model: mobilenet_v1 with `padding: "tf"`, Keras's layers exactly (stride-2 convs padded bottom/right only,
 * BatchNorm ε 1e-3, ReLU6; src/models/mobilenet_v1.ts); the file is read by src/weights/keras.ts.
 *
 * Preprocessing: Keras's `mobilenet.preprocess_input` scales pixels to [-1, 1] (x / 127.5 - 1: mean 0.5, std 0.5
 * here). Keras's own pipeline only resizes the image to ρ×ρ (`load_img(target_size=…)`), so resizeSize =
 * cropSize = ρ, bilinear: the shorter side to ρ and the centre ρ×ρ (the aspect ratio kept, unlike Keras's squash).
 *
 * Accuracy: Keras's files are Google's TF-Slim checkpoints converted ("The weights for all 16 models are obtained
 * and translated from TensorFlow checkpoints found at …/slim/nets/mobilenet_v1.md", Keras's MobileNet docstring,
 * released with Keras 2.0.6, July 2017), i.e. the `mobilenet_v1_<α>_<ρ>_2017_06_14` checkpoints, whose top-1/top-5
 * are TF-Slim's mobilenet_v1.md table of then (below; 1.0/224: 70.7/89.5). The later table (70.9/89.9 for 1.0/224)
 * is for the retrained 2018_02_22 checkpoints, which Keras does not ship. Keras's docstring quotes the paper's
 * top-1 (70.6 for 1.0/224); keras.io's applications table measures 70.4/89.5 and 4,253,864 parameters (with the
 * BatchNorm moving statistics; convzoo counts trainable parameters only: 4,231,976) for the 1.0/224 file.
 */
import { IMAGENET_CLASSES } from "../data/imagenet_classes.js";
import type { WeightsEntry } from "./entry.js";

const BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/";

/** TF-Slim mobilenet_v1.md, 2017_06_14 checkpoints: [α, ρ, top-1, top-5]. */
const TF_SLIM_2017_06_14: readonly [alpha: number, rows: number, acc1: number, acc5: number][] = [
  [1.0, 224, 70.7, 89.5],
  [1.0, 192, 69.3, 88.9],
  [1.0, 160, 67.2, 87.5],
  [1.0, 128, 64.1, 85.3],
  [0.75, 224, 68.4, 88.2],
  [0.75, 192, 67.4, 87.3],
  [0.75, 160, 65.2, 86.1],
  [0.75, 128, 61.8, 83.6],
  [0.5, 224, 64.0, 85.4],
  [0.5, 192, 62.1, 84.0],
  [0.5, 160, 59.9, 82.5],
  [0.5, 128, 56.2, 79.6],
  [0.25, 224, 50.6, 75.0],
  [0.25, 192, 49.0, 73.6],
  [0.25, 160, 46.0, 70.7],
  [0.25, 128, 41.3, 66.2],
];

/** Trainable parameters of mobilenet_v1 at each α with the 1000-class head (conv + BN γ/β + classifier). */
const NUM_PARAMS: Readonly<Record<number, number>> = { 1.0: 4_231_976, 0.75: 2_585_560, 0.5: 1_331_592, 0.25: 470_072 };

/** Keras's `alpha_text`. */
const ALPHA_TEXT: Readonly<Record<number, string>> = { 1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5" };

/** The tag of the file for α and ρ: `KERAS_A075_R160`. */
export const kerasMobileNetV1Tag = (alpha: number, rows: number): string =>
  `KERAS_A${String(Math.round(alpha * 100)).padStart(3, "0")}_R${rows}`;

export const KERAS_MOBILENET_V1: readonly WeightsEntry[] = TF_SLIM_2017_06_14.map(([alpha, rows, acc1, acc5]) => {
  const tag = kerasMobileNetV1Tag(alpha, rows);
  const file = `mobilenet_${ALPHA_TEXT[alpha]}_${rows}_tf.h5`;
  return {
    name: `mobilenet_v1.${tag}`,
    arch: "mobilenet_v1",
    tag,
    url: BASE_URL + file,
    file,
    format: "keras-mobilenet-v1",
    transforms: { resizeSize: rows, cropSize: rows, interpolation: "bilinear", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    metrics: { acc1, acc5 },
    numParams: NUM_PARAMS[alpha],
    minSize: 32, // Keras's `min_size=32`
    numClasses: IMAGENET_CLASSES.length,
    classes: IMAGENET_CLASSES,
    recipe: "https://github.com/tensorflow/models/blob/master/research/slim/nets/mobilenet_v1.md",
    isDefault: alpha === 1.0 && rows === 224,
    modelOptions: { widthMult: alpha, padding: "tf" },
    source: "Keras applications (keras/applications/mobilenet.py), TF-Slim's 2017_06_14 accuracy; no published hash: unverified",
  };
});
