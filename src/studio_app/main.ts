/**
 * The studio page: classes and their images (file picker, dropped files and folders, webcam), the training
 * settings, live curves and the confusion matrix, testing on files or the live webcam, and the exports. Everything
 * that computes runs in the engine worker (engine.ts); the project lives in IndexedDB (store.ts).
 * `document.body.dataset.state` (loading, ready, training, trained) and `data-*` attributes let tests read the page.
 */
import { strFromU8, strToU8, unzipSync, zipSync } from "fflate";
import { drawChart } from "./charts.js";
import type {
  EngineEvent,
  EngineInfo,
  EngineReply,
  EngineRequest,
  TrainRequest,
  TrainResult,
  TrainSample,
  WeightsBytes,
  WeightsInfo,
} from "./protocol.js";
import { ProjectStore, type StoredClass, type StoredImage } from "./store.js";

interface ServedConfig {
  weights: { file: string; url: string; name: string | null; arch: string | null; preprocessing: object | null } | null;
}

interface PageImage extends StoredImage {
  /** Object URL of the thumbnail. */
  thumbUrl: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp|gif|bmp|avif)$/i;

// ---------------------------------------------------------------- engine

const worker = new Worker(new URL("./engine.js", import.meta.url), { type: "module" });
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextRequest = 1;
const eventHandlers: ((e: EngineEvent) => void)[] = [];
worker.onmessage = (e: MessageEvent<EngineReply | EngineEvent>) => {
  const m = e.data;
  if ("event" in m) return eventHandlers.forEach((h) => h(m));
  const p = pending.get(m.id);
  pending.delete(m.id);
  if (m.ok) p?.resolve(m.result);
  else p?.reject(new Error(m.error));
};
worker.onerror = (e) => message(`the engine stopped: ${e.message}`, true);

function call<T>(request: EngineRequest, transfer: Transferable[] = []): Promise<T> {
  const id = nextRequest++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, request }, transfer);
  });
}

// ---------------------------------------------------------------- state

let store: ProjectStore | null = null;
let classes: StoredClass[] = [];
const images = new Map<string, PageImage>();
let nextId = 1;
let served: ServedConfig = { weights: null };
let droppedWeights: WeightsBytes | null = null;
let servedBytes: ArrayBuffer | null = null;
let trainedClasses: string[] = [];

function message(text: string, error = false): void {
  const div = document.createElement("div");
  div.className = `message${error ? " error" : ""}`;
  div.textContent = text;
  div.dataset.kind = error ? "error" : "note";
  $("messages").appendChild(div);
  setTimeout(() => div.remove(), error ? 15_000 : 6_000);
}

function setState(state: string): void {
  document.body.dataset.state = state;
}

const newId = () => `i${Date.now().toString(36)}_${nextId++}`;

async function persistProject(): Promise<void> {
  await store?.saveProject({ classes, nextId });
}

// ---------------------------------------------------------------- classes and images

function addClass(name?: string): StoredClass {
  const c = { id: newId(), name: name ?? `Class ${classes.length + 1}` };
  classes.push(c);
  renderClasses();
  void persistProject();
  return c;
}

/** A small JPEG thumbnail; throws when the browser cannot decode the file. */
async function thumbnail(blob: Blob): Promise<Blob> {
  const bitmap = await createImageBitmap(blob);
  const size = 72;
  const scale = size / Math.min(bitmap.width, bitmap.height);
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext("2d")!;
  ctx.drawImage(bitmap, (size - bitmap.width * scale) / 2, (size - bitmap.height * scale) / 2, bitmap.width * scale, bitmap.height * scale);
  bitmap.close();
  return canvas.convertToBlob({ type: "image/jpeg", quality: 0.8 });
}

/** Adds files to a class; a file that is not an image is named in a message and skipped, the rest is kept. */
async function addFiles(classId: string, files: readonly File[] | readonly { name: string; blob: Blob }[]): Promise<number> {
  const added: PageImage[] = [];
  const bad: string[] = [];
  for (const f of files) {
    const blob = f instanceof File ? f : f.blob;
    const name = f.name;
    try {
      const thumb = await thumbnail(blob);
      added.push({ id: newId(), classId, name, blob, thumb, thumbUrl: URL.createObjectURL(thumb) });
    } catch {
      bad.push(name);
    }
  }
  for (const i of added) images.set(i.id, i);
  if (bad.length)
    message(
      `${bad.length === 1 ? bad[0] : `${bad.length} files (${bad.slice(0, 3).join(", ")}${bad.length > 3 ? ", …" : ""})`}: ` +
        "not an image the browser can decode (expected PNG, JPEG, WebP, GIF, BMP or AVIF); skipped, nothing else changed",
      true,
    );
  renderClasses();
  await store?.addImages(added.map(({ thumbUrl: _url, ...rest }) => rest));
  await persistProject();
  return added.length;
}

function imagesOf(classId: string): PageImage[] {
  return [...images.values()].filter((i) => i.classId === classId);
}

function renderClasses(): void {
  const root = $("classes");
  root.replaceChildren();
  for (const c of classes) {
    const list = imagesOf(c.id);
    const card = document.createElement("div");
    card.className = "class-card";
    card.dataset.classId = c.id;
    card.innerHTML = `<div class="row">
      <input class="class-name" aria-label="class name">
      <span class="count"></span>
      <label class="file-button">Upload<input type="file" class="file-input" multiple accept="image/*"></label>
      <button class="webcam-button">Webcam</button>
      <button class="hold-button" hidden>Hold to record</button>
      <button class="remove-class" title="remove this class and its images">×</button>
    </div><div class="thumbs"></div>`;
    const name = card.querySelector<HTMLInputElement>(".class-name")!;
    name.value = c.name;
    name.onchange = () => {
      const v = name.value.trim();
      if (!v || /[/\\]/.test(v) || classes.some((o) => o !== c && o.name === v)) {
        message(`class name "${v}": must be non-empty, unique and without / or \\; kept "${c.name}"`, true);
        name.value = c.name;
        return;
      }
      c.name = v;
      void persistProject();
    };
    card.querySelector(".count")!.textContent = `${list.length} image${list.length === 1 ? "" : "s"}`;
    (card.querySelector(".count") as HTMLElement).dataset.count = String(list.length);
    const input = card.querySelector<HTMLInputElement>(".file-input")!;
    input.onchange = async () => {
      await addFiles(c.id, Array.from(input.files ?? []));
      input.value = "";
    };
    card.querySelector<HTMLButtonElement>(".remove-class")!.onclick = async () => {
      const ids = list.map((i) => i.id);
      if (ids.length && !confirm(`Remove ${c.name} and its ${ids.length} images?`)) return;
      classes = classes.filter((o) => o !== c);
      for (const id of ids) images.delete(id);
      await store?.deleteImages(ids);
      await persistProject();
      renderClasses();
    };
    const webcamButton = card.querySelector<HTMLButtonElement>(".webcam-button")!;
    const hold = card.querySelector<HTMLButtonElement>(".hold-button")!;
    webcamButton.onclick = async () => {
      if (await startWebcam()) hold.hidden = false;
    };
    holdToRecord(hold, c.id);
    const thumbs = card.querySelector(".thumbs")!;
    for (const i of list.slice(-60)) {
      const img = document.createElement("img");
      img.src = i.thumbUrl;
      img.alt = i.name;
      img.title = `${i.name} (double-click to remove)`;
      img.ondblclick = async () => {
        images.delete(i.id);
        await store?.deleteImages([i.id]);
        renderClasses();
      };
      thumbs.appendChild(img);
    }
    dropTarget(card, async (files) => void (await addFiles(c.id, files)));
    root.appendChild(card);
  }
}

/** Files of a drop, folders walked recursively (webkitGetAsEntry); `folders` keeps the first-level folder names. */
async function droppedFiles(e: DragEvent): Promise<{ name: string; blob: Blob; folder: string | null }[]> {
  const out: { name: string; blob: Blob; folder: string | null }[] = [];
  const entries = Array.from(e.dataTransfer?.items ?? [])
    .map((i) => i.webkitGetAsEntry())
    .filter((x): x is FileSystemEntry => !!x);
  const walk = async (entry: FileSystemEntry, folder: string | null): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ name: entry.fullPath || file.name, blob: file, folder });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, folder ?? (child.isDirectory ? child.name : null));
    }
  };
  if (entries.length) for (const entry of entries) await walk(entry, entry.isDirectory ? null : null);
  else for (const f of Array.from(e.dataTransfer?.files ?? [])) out.push({ name: f.name, blob: f, folder: null });
  return out;
}

function dropTarget(el: HTMLElement, onFiles: (files: { name: string; blob: Blob }[]) => Promise<void>, onFolders?: typeof onFiles): void {
  el.addEventListener("dragover", (e) => {
    e.preventDefault();
    el.classList.add("dragover");
  });
  el.addEventListener("dragleave", () => el.classList.remove("dragover"));
  el.addEventListener("drop", async (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.classList.remove("dragover");
    const files = await droppedFiles(e);
    const useful = files.filter((f) => IMAGE_EXTENSIONS.test(f.name) || f.blob.type.startsWith("image/") || !/\.[^/]+$/.test(f.name));
    if (files.length > useful.length) message(`${files.length - useful.length} dropped files are not images by their name: skipped`);
    await (onFolders ?? onFiles)(useful);
  });
}

// ---------------------------------------------------------------- webcam

let stream: MediaStream | null = null;

async function startWebcam(): Promise<boolean> {
  if (stream) return true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
  } catch (e) {
    const name = (e as DOMException).name;
    message(
      name === "NotAllowedError"
        ? "webcam: access was denied; allow the camera for this page to record or test live. Your images are kept."
        : `webcam: cannot start (${name}: ${(e as Error).message}). Your images are kept.`,
      true,
    );
    return false;
  }
  const video = $<HTMLVideoElement>("webcam");
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => undefined);
  await new Promise<void>((resolve) =>
    video.readyState >= 2 ? resolve() : video.addEventListener("loadeddata", () => resolve(), { once: true }),
  );
  return true;
}

function frameBlob(): Promise<Blob | null> {
  const video = $<HTMLVideoElement>("webcam");
  if (!video.videoWidth) return Promise.resolve(null);
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d")!.drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

/**
 * While the button is held, a frame every 150 ms goes into the class. The timer lives here, not on the button: each
 * added frame re-renders the cards (a new button under the pointer), so the release is caught on the document.
 */
let recording: ReturnType<typeof setInterval> | null = null;

function stopRecording(): void {
  if (recording) clearInterval(recording);
  recording = null;
}

function holdToRecord(button: HTMLButtonElement, classId: string): void {
  button.onpointerdown = (e) => {
    e.preventDefault();
    stopRecording();
    let n = 0;
    recording = setInterval(async () => {
      const blob = await frameBlob();
      if (blob && recording) await addFiles(classId, [{ name: `webcam-${Date.now()}-${n++}.png`, blob }]);
    }, 150);
  };
}

for (const type of ["pointerup", "pointercancel", "blur"]) window.addEventListener(type, stopRecording);

// ---------------------------------------------------------------- training

/** Per class, every k-th image (by insertion order) is held out, k = round(1 / fraction); classes under 3 images hold none. */
function split(fraction: number): { train: TrainSample[]; val: TrainSample[] } {
  const train: TrainSample[] = [];
  const val: TrainSample[] = [];
  const every = fraction > 0 ? Math.max(2, Math.round(1 / fraction)) : 0;
  classes.forEach((c, label) => {
    imagesOf(c.id).forEach((i, n) => {
      const s = { key: i.id, blob: i.blob, label };
      if (every && imagesOf(c.id).length >= 3 && n % every === every - 1) val.push(s);
      else train.push(s);
    });
  });
  return { train, val };
}

async function startingWeights(): Promise<WeightsBytes | null> {
  const source = $<HTMLSelectElement>("weights-source").value;
  if (source === "file" && droppedWeights) return { ...droppedWeights, bytes: droppedWeights.bytes.slice(0) };
  if (source === "served" && served.weights) {
    if (!servedBytes) {
      const res = await fetch(served.weights.url);
      if (!res.ok) throw new Error(`${served.weights.file}: the server answered ${res.status}`);
      servedBytes = await res.arrayBuffer();
    }
    return { name: served.weights.file, bytes: servedBytes.slice(0), preprocessing: served.weights.preprocessing };
  }
  return null;
}

const num = (id: string) => Number($<HTMLInputElement>(id).value);

async function train(): Promise<void> {
  const empty = classes.filter((c) => imagesOf(c.id).length === 0);
  if (classes.length < 2) return message("training needs at least 2 classes: add another class", true);
  if (empty.length)
    return message(`class ${empty.map((c) => `"${c.name}"`).join(", ")} has no images: add images or remove the class`, true);
  const { train: trainSamples, val } = split(num("holdout"));
  let weights: WeightsBytes | null;
  try {
    weights = await startingWeights();
  } catch (e) {
    return message((e as Error).message, true);
  }
  const request: TrainRequest = {
    arch: $<HTMLSelectElement>("arch").value,
    resolution: num("resolution"),
    strategy: $<HTMLSelectElement>("strategy").value as TrainRequest["strategy"],
    epochs: num("epochs"),
    batchSize: num("batch"),
    lr: num("lr"),
    unfreezeStages: num("unfreeze"),
    weights,
    classes: classes.map((c) => c.name),
    train: trainSamples,
    val,
    seed: 0,
  };
  live = false; // the live test's frames would wait behind the training in the engine's queue
  setState("training");
  $<HTMLButtonElement>("train").disabled = true;
  $<HTMLButtonElement>("cancel").disabled = false;
  $("confusion").replaceChildren();
  const history: { loss: number; accuracy: number; valAccuracy: number | null }[] = [];
  const redraw = () => {
    drawChart($<HTMLCanvasElement>("loss-chart"), "loss", [{ label: "training loss", color: "#d33", values: history.map((h) => h.loss) }]);
    drawChart(
      $<HTMLCanvasElement>("acc-chart"),
      "accuracy",
      [
        { label: "training", color: "#2f6fed", values: history.map((h) => h.accuracy) },
        { label: "held out", color: "#1a9c5b", values: history.map((h) => h.valAccuracy) },
      ],
      [0, 1],
    );
  };
  redraw();
  const status = $("train-status");
  const progress = $<HTMLProgressElement>("progress");
  const onEvent = (e: EngineEvent) => {
    if (e.event === "phase") {
      status.textContent = `${e.phase}: ${e.done}/${e.total}`;
      progress.value = e.done / e.total;
    } else if (e.event === "step") {
      status.textContent = `epoch ${e.epoch}/${request.epochs}, step ${e.step}/${e.steps}, loss ${e.loss.toFixed(4)}`;
      progress.value = (e.epoch - 1 + e.step / e.steps) / request.epochs;
    } else {
      history.push(e.record);
      redraw();
    }
  };
  eventHandlers.push(onEvent);
  try {
    const result = await call<TrainResult>({ type: "train", request });
    trainedClasses = request.classes;
    const body = document.body;
    body.dataset.strategy = result.strategy;
    body.dataset.valAccuracy = String(result.valAccuracy ?? "");
    body.dataset.trainImagesPerSecond = String(result.trainImagesPerSecond);
    body.dataset.trainSeconds = String(result.seconds);
    status.textContent =
      `${result.cancelled ? "cancelled after" : "done:"} ${result.history.length} epochs of ${result.strategy} ` +
      `in ${result.seconds.toFixed(1)} s ` +
      `(${result.trainImagesPerSecond.toFixed(1)} images/s)` +
      (result.valAccuracy === null ? "" : `, held-out accuracy ${(result.valAccuracy * 100).toFixed(1)}%`) +
      (result.reason ? `. ${result.reason}` : "");
    for (const note of result.notes) message(note);
    progress.value = 1;
    if (result.confusion) renderConfusion(result.confusion, request.classes);
    $<HTMLButtonElement>("export-checkpoint").disabled = false;
    $<HTMLButtonElement>("export-onnx").disabled = false;
    setState("trained");
  } catch (e) {
    message(`training failed: ${(e as Error).message}`, true);
    status.textContent = `failed: ${(e as Error).message}`;
    setState(trainedClasses.length ? "trained" : "ready");
  } finally {
    eventHandlers.splice(eventHandlers.indexOf(onEvent), 1);
    $<HTMLButtonElement>("train").disabled = false;
    $<HTMLButtonElement>("cancel").disabled = true;
  }
}

function renderConfusion(m: number[][], names: readonly string[]): void {
  const table = document.createElement("table");
  table.className = "confusion";
  table.id = "confusion-matrix";
  const head = document.createElement("tr");
  head.innerHTML = "<th>true \\ predicted</th>";
  for (const n of names) head.appendChild(Object.assign(document.createElement("th"), { textContent: n }));
  table.appendChild(head);
  const max = Math.max(1, ...m.flat());
  m.forEach((row, i) => {
    const tr = document.createElement("tr");
    tr.appendChild(Object.assign(document.createElement("th"), { textContent: names[i] }));
    row.forEach((v, j) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      td.className = "cell";
      td.style.background = `rgba(${i === j ? "47,111,237" : "211,51,51"},${(v / max) * 0.6})`;
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  $("confusion").replaceChildren(Object.assign(document.createElement("h2"), { textContent: "Confusion matrix (held-out images)" }), table);
}

// ---------------------------------------------------------------- testing

function bars(probabilities: readonly number[], k = 3): HTMLElement {
  const div = document.createElement("div");
  div.className = "bars";
  const order = probabilities.map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i);
  div.dataset.top1 = trainedClasses[order[0].i];
  div.dataset.top1Probability = String(order[0].p);
  for (const { p, i } of order.slice(0, Math.min(k, order.length))) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = `<span class="fill"></span><span class="label"></span>`;
    (bar.firstChild as HTMLElement).style.width = `${(p * 100).toFixed(1)}%`;
    bar.lastChild!.textContent = `${trainedClasses[i]} ${(p * 100).toFixed(1)}%`;
    div.appendChild(bar);
  }
  return div;
}

async function testFiles(files: readonly File[]): Promise<void> {
  if (!trainedClasses.length) return message("train a model first, then test it", true);
  for (const f of files) {
    try {
      const { probabilities } = await call<{ probabilities: number[] }>({ type: "predict", image: f });
      const row = document.createElement("div");
      row.className = "prediction";
      row.dataset.file = f.name;
      const img = document.createElement("img");
      img.src = URL.createObjectURL(f);
      row.append(img, bars(probabilities));
      $("predictions").prepend(row);
    } catch (e) {
      message(`${f.name}: ${(e as Error).message}`, true);
    }
  }
  document.body.dataset.tested = String(($("predictions").querySelectorAll(".prediction[data-file]") ?? []).length);
}

let live = false;

async function liveTest(): Promise<void> {
  if (live) {
    live = false;
    return;
  }
  if (!trainedClasses.length) return message("train a model first, then test it", true);
  if (!(await startWebcam())) return;
  live = true;
  $("test-webcam").textContent = "Stop live test";
  const row = document.createElement("div");
  row.className = "prediction live";
  $("predictions").prepend(row);
  let frames = 0;
  while (live) {
    const video = $<HTMLVideoElement>("webcam");
    const frame = await createImageBitmap(video);
    const { probabilities } = await call<{ probabilities: number[] }>({ type: "predict", image: frame }, [frame]);
    row.replaceChildren(Object.assign(document.createElement("span"), { className: "hint", textContent: "webcam" }), bars(probabilities));
    row.dataset.frames = String(++frames);
    await new Promise((r) => setTimeout(r, 100));
  }
  $("test-webcam").textContent = "Live webcam";
}

// ---------------------------------------------------------------- export and import

function download(bytes: Uint8Array | Blob, name: string): void {
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes as BlobPart]);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

const baseName = () => $<HTMLSelectElement>("arch").value;

/** The project as a zip: `<class>/<file>` for every image, the layout `convzoo train DIR` takes. */
async function projectZip(): Promise<Uint8Array> {
  const entries: Record<string, Uint8Array> = {};
  for (const c of classes) {
    entries[`${c.name}/`] = new Uint8Array(0);
    for (const [n, i] of imagesOf(c.id).entries()) {
      const base = i.name
        .split("/")
        .pop()!
        .replace(/[^\w.-]+/g, "_");
      const ext = /\.[a-z0-9]+$/i.test(base) ? "" : `.${(i.blob.type.split("/")[1] || "png").replace("jpeg", "jpg")}`;
      entries[`${c.name}/${String(n).padStart(4, "0")}_${base}${ext}`] = new Uint8Array(await i.blob.arrayBuffer());
    }
  }
  entries["convzoo-studio.json"] = strToU8(JSON.stringify({ classes: classes.map((c) => c.name) }));
  return zipSync(entries, { level: 0 });
}

async function importZip(file: File): Promise<void> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(new Uint8Array(await file.arrayBuffer()));
  } catch (e) {
    return message(`${file.name}: not a readable zip (${(e as Error).message}); the project is unchanged`, true);
  }
  const byClass = new Map<string, { name: string; blob: Blob }[]>();
  for (const [path, bytes] of Object.entries(files)) {
    const parts = path.split("/").filter(Boolean);
    if (parts.length < 2 || path.endsWith("/") || !IMAGE_EXTENSIONS.test(path)) continue;
    const list = byClass.get(parts[0]) ?? [];
    list.push({ name: parts.slice(1).join("/"), blob: new Blob([bytes as BlobPart]) });
    byClass.set(parts[0], list);
  }
  if (byClass.size === 0) return message(`${file.name}: no <class>/<image> entries found; the project is unchanged`, true);
  // The class order the zip recorded (convzoo-studio.json), else sorted as convzoo train's folder reader sorts.
  let order: string[] = [];
  try {
    order = (JSON.parse(strFromU8(files["convzoo-studio.json"])) as { classes: string[] }).classes;
  } catch {
    order = [];
  }
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  // A project of empty classes only (a new one) is replaced rather than extended.
  if (classes.every((c) => imagesOf(c.id).length === 0)) classes = [];
  for (const [name, list] of [...byClass].sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : 1))) {
    const c = classes.find((x) => x.name === name) ?? addClass(name);
    await addFiles(c.id, list);
  }
}

async function loadWeightsFile(file: File): Promise<void> {
  const bytes = await file.arrayBuffer();
  try {
    const info = await call<WeightsInfo>({ type: "inspectWeights", weights: { name: file.name, bytes: bytes.slice(0) } });
    droppedWeights = { name: file.name, bytes };
    const select = $<HTMLSelectElement>("weights-source");
    let option = select.querySelector<HTMLOptionElement>('option[value="file"]');
    if (!option) select.appendChild((option = Object.assign(document.createElement("option"), { value: "file" })));
    option.textContent = `${file.name} (${info.format}, ${info.tensors} tensors)`;
    select.value = "file";
    if (info.arch) $<HTMLSelectElement>("arch").value = info.arch;
    message(`${file.name}: ${info.format}${info.arch ? `, ${info.arch}` : ""}, ${info.tensors} tensors: used as the starting weights`);
  } catch (e) {
    message(`${(e as Error).message}; the starting weights are unchanged`, true);
    $<HTMLInputElement>("weights-file").value = "";
  }
}

// ---------------------------------------------------------------- start

const DEFAULTS: Record<string, { epochs: number; batch: number; lr: number }> = {
  head: { epochs: 30, batch: 16, lr: 0.001 },
  auto: { epochs: 10, batch: 16, lr: 0.001 },
  partial: { epochs: 5, batch: 8, lr: 0.0005 },
  full: { epochs: 5, batch: 8, lr: 0.0005 },
};

async function start(): Promise<void> {
  setState("loading");
  const t0 = performance.now();
  try {
    store = await ProjectStore.open();
    const { project, images: stored } = await store.load();
    if (project) {
      classes = project.classes;
      nextId = project.nextId;
      for (const i of stored) {
        // Stored with the image (a reload of 1,000 images does not decode them all again).
        images.set(i.id, { ...i, thumbUrl: i.thumb ? URL.createObjectURL(i.thumb) : "" });
      }
    }
  } catch (e) {
    message(`this browser keeps no project (IndexedDB: ${(e as Error).message}); work is lost on reload`, true);
  }
  if (classes.length === 0) {
    addClass("Class 1");
    addClass("Class 2");
  }
  renderClasses();
  try {
    served = (await (await fetch("config.json")).json()) as ServedConfig;
  } catch {
    served = { weights: null }; // a static build: no server config
  }
  if (served.weights) {
    const select = $<HTMLSelectElement>("weights-source");
    select.appendChild(
      Object.assign(document.createElement("option"), { value: "served", textContent: served.weights.name ?? served.weights.file }),
    );
    select.value = "served";
    if (served.weights.arch) $<HTMLSelectElement>("arch").value = served.weights.arch;
  }
  $("add-class").onclick = () => addClass();
  dropTarget(
    $("add-class"),
    async () => undefined,
    async (files) => {
      const byFolder = new Map<string, { name: string; blob: Blob }[]>();
      for (const f of files as { name: string; blob: Blob; folder?: string | null }[]) {
        const folder = f.folder ?? f.name.split("/").filter(Boolean).slice(-2, -1)[0] ?? "Dropped";
        byFolder.set(folder, [...(byFolder.get(folder) ?? []), f]);
      }
      for (const [name, list] of byFolder) await addFiles((classes.find((c) => c.name === name) ?? addClass(name)).id, list);
    },
  );
  $("train").onclick = () => void train();
  $("cancel").onclick = () => void call({ type: "cancel" });
  $<HTMLInputElement>("test-input").onchange = async (e) => {
    const input = e.target as HTMLInputElement;
    await testFiles(Array.from(input.files ?? []));
    input.value = "";
  };
  $("test-webcam").onclick = () => void liveTest();
  $("export-checkpoint").onclick = async () =>
    download(await call<Uint8Array>({ type: "exportCheckpoint" }), `${baseName()}-studio.safetensors`);
  $("export-onnx").onclick = async () => download(await call<Uint8Array>({ type: "exportOnnx" }), `${baseName()}-studio.onnx`);
  $("export-zip").onclick = async () => download(await projectZip(), "studio-project.zip");
  $<HTMLInputElement>("import-zip").onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) await importZip(f);
  };
  $<HTMLInputElement>("weights-file").onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) await loadWeightsFile(f);
  };
  $("clear-project").onclick = async () => {
    if (!confirm("Remove every class and image?")) return;
    await store?.clear();
    classes = [];
    images.clear();
    addClass("Class 1");
    addClass("Class 2");
  };
  const strategy = $<HTMLSelectElement>("strategy");
  strategy.onchange = () => {
    const d = DEFAULTS[strategy.value];
    $<HTMLInputElement>("epochs").value = String(d.epochs);
    $<HTMLInputElement>("batch").value = String(d.batch);
    $<HTMLInputElement>("lr").value = String(d.lr);
  };
  const info = await call<EngineInfo>({ type: "info" });
  document.body.dataset.threads = String(info.threads);
  document.body.dataset.loadMs = String(Math.round(performance.now() - t0));
  $("status").textContent =
    `engine ready: onnxruntime-web (WebAssembly, ${info.threads} thread${info.threads === 1 ? "" : "s"}` +
    `${info.crossOriginIsolated ? ", cross-origin isolated" : ", not cross-origin isolated: one thread"})`;
  setState("ready");
}

void start();
