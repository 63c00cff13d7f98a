import "../src/models/index.js";
import { initializeWeights } from "../src/models/graphs.js";
import { createModel } from "../src/models/registry.js";
import { trainingGraph } from "../src/train/graph.js";
const model = createModel("resnet18", { numClasses: 1000, dropout: 0 });
initializeWeights(model, 0);
const spec = trainingGraph(model, { batchSize: 16, resolution: 224, optimizer: { kind: "sgd", momentum: 0.9 }, nchwcBlock: 16 });
for (const n of spec.graph.nodes) if (n.name.startsWith(process.argv[2] ?? "layer4.1.conv2/")) console.log(n.name, n.op, n.inputs.map((v) => v && `${v.name}[${v.shape}]`).join(", "), "->", n.outputs.map((v) => `[${v.shape}]`).join(","), JSON.stringify(n.attrs.perm ?? ""));
