/**
 * The README's client snippet ("Serving"): the same code classifies against `convzoo serve`, Triton
 * (a repository from `convzoo export --triton`) or KServe, over the Open Inference Protocol.
 *
 *   node --import tsx examples/serve_client.ts http://127.0.0.1:8000 pets pets.safetensors cat.jpg dog.jpg
 */
import { InferenceClient, loadImageBatch, readWeightsFile } from "convzoo";

const [url, model, checkpoint, ...images] = process.argv.slice(2);

// The transform the model was trained with travels in its checkpoint.
const { metadata } = await readWeightsFile(checkpoint);
const batch = await loadImageBatch(images, metadata!.preprocessing!);

// A normalised FP32 batch in (binary-data extension), the top 3 out (classification extension).
const client = new InferenceClient(url);
const top = await client.classifyTensor(model, batch.data, batch.shape, 3);
top.forEach((row, i) => console.log(`${images[i]}: ${row.map((c) => `${c.label} ${c.score.toFixed(4)}`).join(", ")}`));
