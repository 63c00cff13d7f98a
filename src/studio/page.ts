/** The studio's HTML page and styles (the app's behaviour is src/studio_app/main.ts, bundled as app.js). */

/** Architectures offered in the page (any registry name works through the engine; these are the list). */
export const STUDIO_ARCHS = ["mobilenet_v3_small", "mobilenet_v3_large", "mobilenet_v2", "efficientnet_b0", "resnet18"] as const;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
#status { color: #b8c0d0; font-size: 12px; }
main { display: grid; grid-template-columns: minmax(320px, 1.2fr) minmax(300px, 1fr) minmax(300px, 1fr); gap: 12px; padding: 12px; }
section { background: #fff; border-radius: 8px; padding: 12px; box-shadow: 0 1px 3px #0002; min-width: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
.class-card { border: 1px solid #d6dae3; border-radius: 6px; padding: 8px; margin-bottom: 8px; }
.class-card.dragover { border-color: #2f6fed; background: #eef3ff; }
.class-card .row { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.class-name { font-weight: 600; border: 1px solid transparent; padding: 2px 4px; width: 12em; }
.class-name:focus { border-color: #2f6fed; }
.count { color: #5b6475; font-size: 12px; }
.thumbs { display: flex; flex-wrap: wrap; gap: 2px; margin-top: 6px; max-height: 120px; overflow-y: auto; }
.thumbs img { width: 36px; height: 36px; object-fit: cover; border-radius: 3px; }
button, .file-button { font: inherit; padding: 4px 10px; border-radius: 4px; border: 1px solid #b7bfcd; background: #f7f8fa;
  cursor: pointer; }
button.primary { background: #2f6fed; color: #fff; border-color: #2f6fed; }
button:disabled { opacity: .5; cursor: default; }
.file-button input { display: none; }
label.field { display: grid; grid-template-columns: 9em minmax(0, 1fr); align-items: center; gap: 6px; margin: 4px 0; }
label.field select, label.field input { min-width: 0; max-width: 100%; }
progress { width: 100%; }
canvas.chart { width: 100%; height: 140px; border: 1px solid #e2e5ec; border-radius: 4px; margin-top: 6px; }
#messages { position: fixed; bottom: 12px; right: 12px; max-width: 420px; display: flex; flex-direction: column; gap: 6px;
  pointer-events: none; }
.message { padding: 8px 12px; border-radius: 6px; background: #fff; box-shadow: 0 2px 6px #0003; border-left: 4px solid #2f6fed; }
.message.error { border-left-color: #d33; }
table.confusion { border-collapse: collapse; margin-top: 6px; font-size: 12px; }
table.confusion td, table.confusion th { border: 1px solid #d6dae3; padding: 2px 6px; text-align: center; }
.prediction { display: flex; gap: 8px; margin: 6px 0; align-items: flex-start; }
.prediction img { width: 56px; height: 56px; object-fit: cover; border-radius: 4px; }
.bars { flex: 1; }
.bar { position: relative; background: #eef0f4; border-radius: 3px; margin: 2px 0; height: 18px; font-size: 12px; }
.bar span.fill { position: absolute; left: 0; top: 0; bottom: 0; background: #8fb1f7; border-radius: 3px; }
.bar span.label { position: relative; padding: 0 4px; }
video { width: 100%; max-height: 200px; background: #000; border-radius: 4px; }
.hint { color: #5b6475; font-size: 12px; }
`;

export function studioHtml(): string {
  const archs = STUDIO_ARCHS.map((a) => `<option value="${a}">${a}</option>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>convzoo studio</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>convzoo studio</h1><span id="status">loading…</span></header>
<main>
<section id="classes-panel">
  <h2>1. Classes and images</h2>
  <p class="hint">Add images by the file picker, by dropping files or folders on a class (a folder of folders dropped on
  "Add a class" makes one class per folder), or with the webcam (hold the button to record).</p>
  <div id="classes"></div>
  <div class="row">
    <button id="add-class">Add a class</button>
    <button id="export-zip">Download project (.zip)</button>
    <label class="file-button">Open project (.zip)<input type="file" id="import-zip" accept=".zip,application/zip"></label>
    <button id="clear-project">Clear project</button>
  </div>
  <video id="webcam" autoplay muted playsinline hidden></video>
</section>
<section id="train-panel">
  <h2>2. Train</h2>
  <label class="field">Architecture <select id="arch">${archs}</select></label>
  <label class="field">Starting weights <select id="weights-source"><option value="random">random initialisation</option></select></label>
  <label class="field">Weights file <input type="file" id="weights-file" accept=".pth,.pt,.safetensors"></label>
  <label class="field">Strategy <select id="strategy">
    <option value="head">head: the classifier on frozen features (fast)</option>
    <option value="partial">partial: the last stages and the classifier</option>
    <option value="full">full: every layer</option>
    <option value="auto">auto: measured, as the CLI's</option></select></label>
  <label class="field">Unfreeze stages <input type="number" id="unfreeze" value="2" min="1" max="8"></label>
  <label class="field">Resolution <input type="number" id="resolution" value="224" min="32" max="512" step="8"></label>
  <label class="field">Epochs <input type="number" id="epochs" value="30" min="1" max="500"></label>
  <label class="field">Batch size <input type="number" id="batch" value="16" min="2" max="128"></label>
  <label class="field">Learning rate <input type="number" id="lr" value="0.001" min="0.000001" max="1" step="any"></label>
  <label class="field">Held out <input type="number" id="holdout" value="0.2" min="0" max="0.5" step="0.05"></label>
  <div class="row"><button id="train" class="primary">Train</button> <button id="cancel" disabled>Cancel</button></div>
  <progress id="progress" value="0" max="1"></progress>
  <div id="train-status" class="hint"></div>
  <canvas id="loss-chart" class="chart" width="600" height="140"></canvas>
  <canvas id="acc-chart" class="chart" width="600" height="140"></canvas>
  <div id="confusion"></div>
</section>
<section id="test-panel">
  <h2>3. Test and export</h2>
  <div class="row">
    <label class="file-button">Test images<input type="file" id="test-input" multiple accept="image/*"></label>
    <button id="test-webcam">Live webcam</button>
  </div>
  <div id="predictions"></div>
  <h2>Export</h2>
  <div class="row">
    <button id="export-checkpoint" disabled>Checkpoint (.safetensors)</button>
    <button id="export-onnx" disabled>ONNX model</button>
  </div>
  <p class="hint">The checkpoint loads in <code>convzoo classify</code>, <code>eval</code>, <code>serve</code> and in PyTorch
  (<code>load_state_dict(safetensors.torch.load_file(f))</code>); the project zip is a folder per class that
  <code>convzoo train</code> takes as is.</p>
</section>
</main>
<div id="messages"></div>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}
