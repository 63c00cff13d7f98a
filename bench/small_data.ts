/**
 * The small-data benchmark (issue 14, point 5), run by hand, not in CI:
 *
 *   npm run build && node --import tsx bench/small_data.ts            # full run: 6 tasks, 2 seeds (~35–40 min on 2 cores)
 *   node --import tsx bench/small_data.ts --quick                      # one task, one seed (a few minutes)
 *   node --import tsx bench/small_data.ts --search                     # the flag search: rewrites bench/small_data_flags.json
 *   node --import tsx bench/small_data.ts --tasks mnist@5,shapes@30 --seeds 2 --methods default,torch
 *   node --import tsx bench/small_data.ts --seeds 1 --first-seed 2      # one more seed (2) beside seeds 0 and 1 run before
 *   node --import tsx bench/small_data.ts --from-results ad673af       # the table of a (stopped) run's recorded rows
 *   node --import tsx bench/small_data.ts --from-results b29ad34,17e4218  # rows of several commits (same task, method and
 *                                                                      # seed: the later commit's); only where the commits
 *                                                                      # train identically (seconds then mix both)
 *
 * Tasks on data that ships or is generated (bench/small_data_sets.ts), all mobilenet_v3_small at 32 px:
 *   mnist@N       MNIST digits 5–9 from N images per digit (N = 5, 10, 20, 50), starting from a checkpoint
 *                 pretrained on digits 0–4 (the demo's recipe, made once and cached in the work folder);
 *   shapes@30     5 generated shape classes (grey levels, faint textures), 30 per class (150 images at 32 px), from
 *                 the same digits checkpoint (a different domain);
 *   scratch@50    MNIST 5–9 from 50 images per digit and random weights.
 * Each task runs three ways side by side, each on the same training images (seed s draws them):
 *   default       `convzoo train DIR --weights pretrained.safetensors --save F` (from scratch: `--arch
 *                 mobilenet_v3_small --resolution 32`, what defines the task's model, instead of --weights);
 *   tuned         the same plus the flags the search found for the task (bench/small_data_flags.json);
 *   torch         bench/torch_small_data.py: fastai's fine_tune in plain PyTorch (Debian's /usr/bin/python3)
 *                 from the same checkpoint, its base learning rate and augmentation (on/off) from the same search.
 * Every method is scored on the same held-out test images (100 per class, never trained or searched on)
 * with `convzoo eval` (torch: its own model in eval mode). `seconds` is the training process's wall time
 * (convzoo: the `convzoo train` command, report included; torch: from interpreter start to the end of
 * training and update_bn). `--seed s` is passed to every method: the seed draws the training images and
 * seeds the run.
 *
 * The search (--search) is honest: it runs on its own draw of training images (seed 100) and picks by
 * top-1 on a separate validation set (100 per class), never on the test images; it is a coordinate
 * descent over the stages in SEARCH_STAGES, each candidate changing one thing from the best so far.
 * Needs `npm run build` (the CLI is run as a user runs it, from dist/).
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile, readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { DATA_VERSIONS, drawMnist, drawShapes, ensureData, type DataFolders } from "./small_data_sets.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const PYTHON = "/usr/bin/python3"; // Debian's torch, not whatever python3 is first on PATH
const TORCH_SCRIPT = join(ROOT, "bench", "torch_small_data.py");
const FLAGS_FILE = join(ROOT, "bench", "small_data_flags.json");
const SEARCH_FILE = join(ROOT, "bench", "small_data_search.json");
const ARCH = "mobilenet_v3_small";
const RESOLUTION = 32;
/** The training draw the search runs on (never one of the measured seeds). */
const SEARCH_SEED = 100;

// ---------------------------------------------------------------------------------------------
// Tasks and methods

interface Task {
  name: string;
  data: "mnist" | "shapes";
  perClass: number;
  pretrained: boolean;
  /** Horizontal flips keep the class (shapes) or not (digits): the torch recipe's flip. */
  flip: boolean;
}

const TASKS: Task[] = [
  { name: "mnist@5", data: "mnist", perClass: 5, pretrained: true, flip: false },
  { name: "mnist@10", data: "mnist", perClass: 10, pretrained: true, flip: false },
  { name: "mnist@20", data: "mnist", perClass: 20, pretrained: true, flip: false },
  { name: "mnist@50", data: "mnist", perClass: 50, pretrained: true, flip: false },
  { name: "shapes@30", data: "shapes", perClass: 30, pretrained: true, flip: true },
  { name: "scratch@50", data: "mnist", perClass: 50, pretrained: false, flip: false },
];
const QUICK_TASK = "mnist@10";

type Method = "default" | "tuned" | "torch";
const METHODS: Method[] = ["default", "tuned", "torch"];

/** The digits 0–4 checkpoint: the demo's pretraining recipe (src/demo/demo.ts), through the CLI. */
const PRETRAIN_FLAGS = [
  "--arch",
  ARCH,
  "--resolution",
  String(RESOLUTION),
  "--strategy",
  "full",
  "--optimizer",
  "sgd",
  "--momentum",
  "0.9",
  "--schedule",
  "cosine",
  "--lr",
  "0.05",
  "--epochs",
  "6",
  "--batch-size",
  "32",
  "--no-augment",
  "--recalibrate-bn",
  "--seed",
  "0",
];

/** bench/small_data_flags.json: what --search found, per task. */
interface FlagsFile {
  searched: string;
  convzoo: string;
  machine: string;
  /** `from`: the searched task whose flags this one started from (only the epochs re-chosen). */
  tasks: Record<string, { convzoo: string[]; torch: TorchRecipe; from?: string }>;
}

/** A flag search's stages: each candidate is applied on top of the best flags so far. */
interface Stage {
  name: string;
  /** Alternatives to the current value; `[]` is "leave as is". */
  candidates: (task: Task, ctx: { epochs: number | null }) => string[][];
}

const SEARCH_STAGES: Stage[] = [
  { name: "augmentation", candidates: () => [["--no-augment"], ["--auto-augment", "trivialaugment"]] },
  {
    name: "optimizer",
    candidates: () => [
      ["--optimizer", "adamw"],
      ["--optimizer", "adamw", "--lr", "0.003"],
    ],
  },
  {
    name: "strategy",
    candidates: (t) =>
      t.pretrained
        ? [
            ["--strategy", "partial", "--unfreeze-stages", "2"],
            ["--strategy", "head"],
          ]
        : [],
  },
  { name: "validation", candidates: () => [["--val-split", "0"]] },
  { name: "epochs", candidates: (_t, { epochs }) => (epochs === null ? [] : [["--epochs", String(epochs * 2)]]) },
  {
    name: "regularisation",
    candidates: () => [
      ["--ema", "0.99"],
      ["--mixup", "0.2"],
    ],
  },
];
/**
 * Tasks searched in full; the others start from the flags of the searched task nearest in size and
 * re-choose only the run's length (the epochs stage), to keep the search affordable. Until they are
 * searched so, they borrow the flags as they are (shown in the table).
 */
const SEARCHED = ["mnist@5", "mnist@50", "shapes@30", "scratch@50", "mnist@10", "mnist@20"];
const BORROWS: Record<string, string> = { "mnist@10": "mnist@5", "mnist@20": "mnist@50" };
/** The PyTorch recipe's search: fastai's base learning rate (its default is 2e-3), with and without augmentation. */
const TORCH_LRS = [1e-3, 3e-3, 1e-2, 3e-2];
const TORCH_AUGMENT = [true, false];

// ---------------------------------------------------------------------------------------------
// Arguments

interface Args {
  quick: boolean;
  search: boolean;
  tasks: Task[];
  seeds: number[];
  methods: Method[];
  work: string;
  json: boolean;
  /** Tabulate results.jsonl's rows of this convzoo commit instead of measuring. */
  fromResults?: string;
}

function parseArgs(argv: string[]): Args {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes("--quick");
  const search = argv.includes("--search");
  const names = value("--tasks")?.split(",") ?? (quick ? [QUICK_TASK] : search ? SEARCHED : TASKS.map((t) => t.name));
  const tasks = names.map((n) => {
    const t = TASKS.find((x) => x.name === n);
    if (!t) throw new Error(`unknown task "${n}" (tasks: ${TASKS.map((x) => x.name).join(", ")})`);
    return t;
  });
  const seedCount = Number(value("--seeds") ?? (quick ? 1 : 2));
  const firstSeed = Number(value("--first-seed") ?? 0);
  if (!(Number.isInteger(firstSeed) && firstSeed >= 0))
    throw new Error(`--first-seed: a non-negative integer, got ${value("--first-seed")}`);
  if (firstSeed <= SEARCH_SEED && SEARCH_SEED < firstSeed + seedCount)
    throw new Error(`seeds ${firstSeed}–${firstSeed + seedCount - 1} include the search's own draw (${SEARCH_SEED})`);
  const methods = (value("--methods")?.split(",") ?? METHODS) as Method[];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`unknown method "${m}" (methods: ${METHODS.join(", ")})`);
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  return {
    quick,
    search,
    tasks,
    seeds: Array.from({ length: seedCount }, (_, i) => firstSeed + i),
    methods,
    work: value("--work") ?? join(cache, "convzoo", "bench-small-data"),
    json: argv.includes("--json"),
    fromResults: value("--from-results"),
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Running the CLI and the PyTorch recipe

interface Proc {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command, its output also appended to `logFile`; wall seconds from spawn to exit. */
function run(command: string, args: string[], logFile: string): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile, { flags: "a" });
    out.write(`$ ${command} ${args.join(" ")}\n`);
    const t0 = performance.now();
    // GNU OpenMP's threads spin while they wait: on a shared machine torch's 2 threads then take 100x
    // longer (measured: 210 s instead of 2.4 s); passive waiting is the setting for shared machines.
    const env = { ...process.env, CONVZOO_PROGRESS_INTERVAL: "3600", OMP_WAIT_POLICY: "PASSIVE" };
    const child = spawn(command, args, { cwd: ROOT, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      out.write(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      out.write(d);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - t0) / 1000;
      out.end(`[exit ${code}, ${seconds.toFixed(1)} s]\n\n`);
      resolve({ code: code ?? 1, stdout, stderr, seconds });
    });
  });
}

function failed(what: string, p: Proc, logFile: string): Error {
  const tail = p.stderr.trim().split("\n").slice(-5).join("\n");
  return new Error(`${what} failed (exit ${p.code}); log: ${logFile}\n${tail}`);
}

interface TrainResult {
  seconds: number;
  /** The start line's facts, as the CLI printed them (for the record). */
  sized: string | null;
  trainLine: string | null;
  epochs: number;
}

async function convzooTrain(data: string, flags: string[], save: string, logFile: string): Promise<TrainResult> {
  const p = await run(process.execPath, [CLI, "train", data, ...flags, "--save", save], logFile);
  if (p.code !== 0) throw failed(`convzoo train ${data}`, p, logFile);
  const lines = p.stderr.split("\n");
  return {
    seconds: p.seconds,
    sized: lines.find((l) => l.startsWith("sized from the data"))?.trim() ?? null,
    trainLine: lines.find((l) => l.startsWith("training on"))?.trim() ?? null,
    epochs: lines.filter((l) => /^epoch \d+:/.test(l)).length,
  };
}

async function convzooEval(data: string, checkpoint: string, logFile: string): Promise<number> {
  const p = await run(process.execPath, [CLI, "eval", data, "--weights", checkpoint, "--json"], logFile);
  if (p.code !== 0) throw failed(`convzoo eval ${data}`, p, logFile);
  return (JSON.parse(p.stdout) as { top1: number }).top1;
}

/** What the search picks for the PyTorch recipe. */
interface TorchRecipe {
  lr: number;
  augment: boolean;
  /** Epochs after unfreezing; absent: the script's sizing (about 300 steps). */
  epochs?: number;
}

function torchFlags(r: TorchRecipe): string {
  return `--lr ${r.lr}${r.augment ? "" : " --no-augment"}${r.epochs ? ` --epochs ${r.epochs}` : ""}`;
}

interface TorchResult {
  testTop1: number;
  valTop1?: number;
  trainSeconds: number;
  epochs: number;
  batch: number;
  steps: number;
}

async function torchRun(
  o: TorchRecipe & { train: string; test: string; val?: string; weights?: string; seed: number; flip: boolean },
  logFile: string,
): Promise<TorchResult> {
  const args = [TORCH_SCRIPT, "--train", o.train, "--test", o.test, "--lr", String(o.lr), "--seed", String(o.seed)];
  args.push("--resolution", String(RESOLUTION), "--threads", "2");
  if (o.val) args.push("--val", o.val);
  if (o.weights) args.push("--weights", o.weights);
  if (o.flip) args.push("--flip");
  if (!o.augment) args.push("--no-augment");
  if (o.epochs) args.push("--epochs", String(o.epochs));
  const p = await run(PYTHON, args, logFile);
  if (p.code !== 0) throw failed("torch_small_data.py", p, logFile);
  return JSON.parse(p.stdout.trim().split("\n").pop()!) as TorchResult;
}

// ---------------------------------------------------------------------------------------------
// Data and the pretrained checkpoint

async function gitCommit(): Promise<string> {
  const p = await run("git", ["rev-parse", "--short", "HEAD"], "/dev/null");
  const dirty = await run("git", ["status", "--porcelain", "--untracked-files=no", "src"], "/dev/null");
  return `${p.stdout.trim()}${dirty.stdout.trim() ? "+dirty src" : ""}`;
}

/** The digits 0–4 checkpoint, trained once; rebuilt when the recipe line changes. */
async function ensurePretrained(work: string, data: DataFolders): Promise<string> {
  const file = join(work, "pretrained.safetensors");
  const stamp = `${file}.cmd`;
  const recipe = PRETRAIN_FLAGS.join(" ");
  if (existsSync(file) && existsSync(stamp) && (await readFile(stamp, "utf8")) === recipe) return file;
  log(`pretraining ${ARCH} on MNIST 0–4 (the demo's recipe, once; cached in ${work})`);
  const logFile = join(work, "pretrain.log");
  const r = await convzooTrain(data.mnistPretrain, [...PRETRAIN_FLAGS, "--no-report"], file, logFile);
  const top1 = await convzooEval(join(data.mnistPretrain, "val"), file, logFile);
  log(`  digits 0–4: ${(top1 * 100).toFixed(1)}% on their 250 validation images, ${r.seconds.toFixed(0)} s`);
  await writeFile(stamp, recipe);
  return file;
}

interface TaskData {
  train: string;
  test: string;
  val: string;
}

async function taskData(work: string, data: DataFolders, task: Task, seed: number): Promise<TaskData> {
  const dir = join(work, "tasks", task.name.replace("@", "_"), `seed${seed}`, "train");
  if (task.data === "mnist") {
    await drawMnist(data.mnistPool, dir, task.perClass, seed);
    return { train: dir, test: data.mnistTest, val: data.mnistVal };
  }
  await drawShapes(dir, task.perClass, seed);
  return { train: dir, test: data.shapesTest, val: data.shapesVal };
}

/** The flags every convzoo run of a task gets: the starting weights, or the model from scratch. */
function baseFlags(task: Task, pretrained: string, seed: number): string[] {
  const start = task.pretrained ? ["--weights", pretrained] : ["--arch", ARCH, "--resolution", String(RESOLUTION)];
  return [...start, "--seed", String(seed)];
}

// ---------------------------------------------------------------------------------------------
// The search

interface Candidate {
  stage: string;
  flags: string[];
  valTop1: number;
  seconds: number;
  epochs: number;
}

/** Removes a flag and its value (if it takes one) from a flag list. */
function withoutFlag(flags: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === flag) {
      if (flags[i + 1] !== undefined && !flags[i + 1].startsWith("--")) i++;
      continue;
    }
    out.push(flags[i]);
  }
  return out;
}

/** The best flags so far with `change` applied: each flag in it replaces the same flag (and opposites). */
function applyChange(flags: string[], change: string[]): string[] {
  const opposite: Record<string, string[]> = {
    "--no-augment": ["--auto-augment"],
    "--auto-augment": ["--no-augment"],
    "--recalibrate-bn": ["--no-recalibrate-bn"],
    "--no-recalibrate-bn": ["--recalibrate-bn"],
    "--optimizer": ["--lr"],
    "--strategy": ["--unfreeze-stages"],
    "--ema": ["--mixup"],
    "--mixup": ["--ema"],
  };
  let out = [...flags];
  for (const f of change.filter((x) => x.startsWith("--"))) {
    out = withoutFlag(out, f);
    for (const o of opposite[f] ?? []) out = withoutFlag(out, o);
  }
  return [...out, ...change];
}

/**
 * Searches one task: the stages in order from `start` (the defaults, or a borrowed task's flags),
 * then the PyTorch recipe's learning rates.
 */
async function searchTask(
  work: string,
  data: DataFolders,
  task: Task,
  pretrained: string,
  srcCommit: string,
  start: { name: string; flags: string[]; stages: Stage[] },
) {
  const d = await taskData(work, data, task, SEARCH_SEED);
  const dir = join(work, "search", task.name.replace("@", "_"));
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, "search.log");
  const tried: Candidate[] = [];
  // Finished candidates are kept (keyed by the last commit that touched src/ and the data's version), so
  // a stopped search resumes.
  const cacheFile = join(dir, "cache.json");
  const cache: Record<string, Omit<Candidate, "stage">> = existsSync(cacheFile) ? JSON.parse(await readFile(cacheFile, "utf8")) : {};
  const key = (what: string) => `${srcCommit} ${SEARCH_SEED} ${DATA_VERSIONS[task.data]} ${what}`;
  const score = async (stage: string, flags: string[]): Promise<Candidate> => {
    let c: Candidate;
    const hit = cache[key(flags.join(" "))];
    if (hit) c = { ...hit, stage };
    else {
      const save = join(dir, "candidate.safetensors");
      const r = await convzooTrain(d.train, [...baseFlags(task, pretrained, SEARCH_SEED), ...flags], save, logFile);
      const valTop1 = await convzooEval(d.val, save, logFile);
      c = { stage, flags, valTop1, seconds: r.seconds, epochs: r.epochs };
      cache[key(flags.join(" "))] = { flags, valTop1, seconds: r.seconds, epochs: r.epochs };
      await writeFile(cacheFile, `${JSON.stringify(cache, null, 2)}\n`);
    }
    const shown = `${flags.join(" ") || "(defaults)"}${hit ? " (cached)" : ""}`;
    log(`  ${task.name} ${stage.padEnd(14)} ${pct(c.valTop1).padStart(6)}  ${c.seconds.toFixed(0).padStart(4)} s  ${shown}`);
    tried.push(c);
    return c;
  };
  let best = await score(start.name, start.flags);
  for (const stage of start.stages) {
    const epochsNow = best.epochs || null;
    for (const change of stage.candidates(task, { epochs: epochsNow })) {
      const c = await score(stage.name, applyChange(best.flags, change));
      // Strictly better on the validation images, else the earlier (simpler) choice stays.
      if (c.valTop1 > best.valTop1) best = c;
    }
  }
  // The PyTorch recipe's base learning rate, on the same draw and validation set.
  const torchTried: (TorchRecipe & { valTop1: number; seconds: number })[] = [];
  const torchScore = async (recipe: TorchRecipe) => {
    const k = key(`torch ${torchFlags(recipe)}`);
    let r = cache[k];
    if (!r) {
      const t = await torchRun(
        { ...recipe, train: d.train, test: d.val, weights: task.pretrained ? pretrained : undefined, seed: SEARCH_SEED, flip: task.flip },
        logFile,
      );
      r = cache[k] = { flags: k.split(" ").slice(4), valTop1: t.testTop1, seconds: t.trainSeconds, epochs: t.epochs };
      await writeFile(cacheFile, `${JSON.stringify(cache, null, 2)}\n`);
    }
    log(`  ${task.name} torch ${torchFlags(recipe).padEnd(30)} ${pct(r.valTop1).padStart(6)}  ${r.seconds.toFixed(0).padStart(4)} s`);
    const tried = { ...recipe, epochs: recipe.epochs ?? r.epochs, valTop1: r.valTop1, seconds: r.seconds };
    torchTried.push(tried);
    return tried;
  };
  for (const augment of TORCH_AUGMENT) for (const lr of TORCH_LRS) await torchScore({ lr, augment });
  // Strictly better, else the earlier (fastai-like: augmented, smaller rate) stays; then twice the epochs.
  let torchBest = torchTried.reduce((a, b) => (b.valTop1 > a.valTop1 ? b : a));
  const longer = await torchScore({ lr: torchBest.lr, augment: torchBest.augment, epochs: 2 * torchBest.epochs! });
  if (longer.valTop1 > torchBest.valTop1) torchBest = longer;
  else torchBest = { ...torchBest, epochs: undefined };
  return { best, tried, torchBest, torchTried };
}

// ---------------------------------------------------------------------------------------------
// The measurement

interface Row {
  task: string;
  method: Method;
  seed: number;
  top1: number;
  seconds: number;
  flags: string;
  note: string;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function readFlags(): Promise<FlagsFile | null> {
  if (!existsSync(FLAGS_FILE)) return null;
  return JSON.parse(await readFile(FLAGS_FILE, "utf8")) as FlagsFile;
}

async function measure(args: Args, data: DataFolders, pretrained: string, commit: string): Promise<Row[]> {
  const flagsFile = await readFlags();
  const rows: Row[] = [];
  const resultsFile = join(args.work, "results.jsonl");
  for (const seed of args.seeds) {
    for (const task of args.tasks) {
      const d = await taskData(args.work, data, task, seed);
      const dir = join(args.work, "runs", task.name.replace("@", "_"), `seed${seed}`);
      await mkdir(dir, { recursive: true });
      const logFile = join(dir, "run.log");
      // A task not searched itself uses the flags of the searched task nearest in size.
      const own = flagsFile?.tasks[task.name];
      const from = own ? (own.from ?? task.name) : BORROWS[task.name];
      const tuned = own ?? (from ? flagsFile?.tasks[from] : undefined);
      const borrowed = from && from !== task.name ? (own ? ` (from ${from}'s, epochs re-chosen)` : ` (${from}'s as they are)`) : "";
      for (const method of args.methods) {
        let row: Row;
        if (method === "torch") {
          // Without a search: fastai's defaults.
          const searched = tuned?.torch;
          const recipe: TorchRecipe = searched ? { ...searched, augment: searched.augment ?? true } : { lr: 2e-3, augment: true };
          const weights = task.pretrained ? pretrained : undefined;
          const r = await torchRun({ ...recipe, train: d.train, test: d.test, weights, seed, flip: task.flip }, logFile);
          const note = `batch ${r.batch}, ${task.pretrained ? "1+" : ""}${r.epochs} epochs, ${r.steps} steps`;
          row = {
            task: task.name,
            method,
            seed,
            top1: r.testTop1,
            seconds: r.trainSeconds,
            flags: `${torchFlags(recipe)}${borrowed}`,
            note,
          };
        } else {
          if (method === "tuned" && !tuned) {
            log(`  ${task.name}: no searched flags in ${FLAGS_FILE} (run --search): tuned skipped`);
            continue;
          }
          const extra = method === "tuned" ? tuned!.convzoo : [];
          const save = join(dir, `${method}.safetensors`);
          const r = await convzooTrain(d.train, [...baseFlags(task, pretrained, seed), ...extra], save, logFile);
          const top1 = await convzooEval(d.test, save, logFile);
          const note = [r.trainLine, r.sized].filter(Boolean).join(" | ");
          const flags = method === "tuned" ? `${extra.join(" ") || "(defaults)"}${borrowed}` : "";
          row = { task: task.name, method, seed, top1, seconds: r.seconds, flags, note };
        }
        rows.push(row);
        log(
          `  seed ${seed} ${task.name.padEnd(10)} ${method.padEnd(7)} ${pct(row.top1).padStart(6)}  ${row.seconds.toFixed(1).padStart(6)} s`,
        );
        await writeFile(resultsFile, `${JSON.stringify({ ...row, commit, at: new Date().toISOString() })}\n`, { flag: "a" });
      }
    }
  }
  return rows;
}

interface Summary {
  task: string;
  method: Method;
  top1: number;
  seconds: number;
  seeds: number;
  perSeed: number[];
}

function summarise(rows: Row[], tasks: Task[], methods: Method[]): Summary[] {
  const out: Summary[] = [];
  for (const t of tasks) {
    for (const m of methods) {
      const rs = rows.filter((r) => r.task === t.name && r.method === m);
      if (!rs.length) continue;
      out.push({
        task: t.name,
        method: m,
        top1: mean(rs.map((r) => r.top1)),
        seconds: mean(rs.map((r) => r.seconds)),
        seeds: rs.length,
        perSeed: rs.map((r) => r.top1),
      });
    }
  }
  return out;
}

/** The issue's goals against what was measured. */
function goals(summary: Summary[], tasks: Task[]): string[] {
  const get = (task: string, m: Method) => summary.find((s) => s.task === task && s.method === m);
  const lines: string[] = [];
  const misses: string[] = [];
  for (const t of tasks) {
    const d = get(t.name, "default");
    const others = [get(t.name, "tuned"), get(t.name, "torch")].filter((s): s is Summary => !!s);
    if (!d || !others.length) continue;
    const best = others.reduce((a, b) => (b.top1 > a.top1 ? b : a));
    const gap = (best.top1 - d.top1) * 100;
    if (gap > 3) misses.push(`${t.name} ${gap.toFixed(1)} points below ${best.method}`);
  }
  lines.push(`defaults within 3 points of the best tuned recipe on every task: ${misses.length ? `no (${misses.join("; ")})` : "yes"}`);
  const both = tasks.filter((t) => get(t.name, "default") && get(t.name, "torch"));
  if (both.length) {
    const dm = mean(both.map((t) => get(t.name, "default")!.top1));
    const tm = mean(both.map((t) => get(t.name, "torch")!.top1));
    lines.push(
      `defaults at least the PyTorch recipe on average: ${dm >= tm ? "yes" : "no"} (${pct(dm)} vs ${pct(tm)} over ${both.length} tasks)`,
    );
  }
  const shapes = get("shapes@30", "default");
  if (shapes)
    lines.push(
      `a default run on 150 images at 32 px under 2 minutes: ${shapes.seconds < 120 ? "yes" : "no"} (${shapes.seconds.toFixed(0)} s)`,
    );
  return lines;
}

function table(summary: Summary[], tasks: Task[], methods: Method[]): string {
  const head = `| task | ${methods.map((m) => `${m} top-1 | ${m} s`).join(" | ")} |`;
  const rule = `| --- | ${methods.map(() => "---: | ---:").join(" | ")} |`;
  const body = tasks.map((t) => {
    const cells = methods.map((m) => {
      const s = summary.find((x) => x.task === t.name && x.method === m);
      if (!s) return "— | —";
      const spread = s.seeds > 1 ? ` (${s.perSeed.map((v) => (v * 100).toFixed(0)).join("/")})` : "";
      return `${pct(s.top1)}${spread} | ${s.seconds.toFixed(0)}`;
    });
    return `| ${t.name} | ${cells.join(" | ")} |`;
  });
  return [head, rule, ...body].join("\n");
}

/** What the tuned and torch columns ran with, per task. */
function flagsTable(rows: Row[], tasks: Task[]): string {
  const lines = ["| task | tuned convzoo flags | torch |", "| --- | --- | --- |"];
  for (const t of tasks) {
    const tuned = rows.find((r) => r.task === t.name && r.method === "tuned");
    const torch = rows.find((r) => r.task === t.name && r.method === "torch");
    if (!tuned && !torch) continue;
    lines.push(`| ${t.name} | ${tuned ? `\`${tuned.flags}\`` : "—"} | ${torch ? `${torch.flags}; ${torch.note}` : "—"} |`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (the bench runs the CLI as a user does)`);
  const newestSrc = await newestMtime(join(ROOT, "src"));
  if (newestSrc > statSync(CLI).mtimeMs) log(`warning: src/ is newer than dist/: run \`npm run build\` to measure the current code`);
  if (!existsSync(PYTHON) && args.methods.includes("torch"))
    throw new Error(`${PYTHON} not found: the torch method needs Debian's python3-torch`);
  await mkdir(args.work, { recursive: true });
  const commit = await gitCommit();
  const srcCommit = (await run("git", ["log", "-1", "--format=%h", "--", "src"], "/dev/null")).stdout.trim();
  const started = new Date();
  log(`small-data bench: convzoo ${commit}, work folder ${args.work}`);
  const data = await ensureData(args.work, log);
  const pretrained = await ensurePretrained(args.work, data);

  if (args.search) {
    const flags: FlagsFile = (await readFlags()) ?? { searched: "", convzoo: "", machine: "", tasks: {} };
    const record: Record<string, unknown> = existsSync(SEARCH_FILE) ? JSON.parse(await readFile(SEARCH_FILE, "utf8")) : {};
    for (const task of args.tasks) {
      log(`searching ${task.name} (training draw seed ${SEARCH_SEED}, scored on the validation set)`);
      const t0 = performance.now();
      // A task in BORROWS starts from its source's flags and re-chooses only the length of the run.
      const source = BORROWS[task.name];
      const borrowed = source ? flags.tasks[source] : undefined;
      const start = borrowed
        ? {
            name: `${source}'s`,
            flags: withoutFlag(borrowed.convzoo, "--epochs"),
            stages: SEARCH_STAGES.filter((x) => x.name === "epochs"),
          }
        : { name: "defaults", flags: [], stages: SEARCH_STAGES };
      const s = await searchTask(args.work, data, task, pretrained, srcCommit, start);
      flags.tasks[task.name] = {
        convzoo: s.best.flags,
        torch: { lr: s.torchBest.lr, augment: s.torchBest.augment, ...(s.torchBest.epochs ? { epochs: s.torchBest.epochs } : {}) },
        ...(borrowed ? { from: source } : {}),
      };
      record[task.name] = {
        date: started.toISOString(),
        convzoo: commit,
        minutes: (performance.now() - t0) / 60000,
        best: s.best,
        tried: s.tried,
        torch: { best: s.torchBest, tried: s.torchTried },
      };
      flags.searched = started.toISOString().slice(0, 10);
      flags.convzoo = commit;
      flags.machine = "2 cores, shared";
      await writeFile(FLAGS_FILE, `${JSON.stringify(flags, null, 2)}\n`);
      await writeFile(SEARCH_FILE, `${JSON.stringify(record, null, 2)}\n`);
      log(
        `  best: ${s.best.flags.join(" ") || "(defaults)"} ${pct(s.best.valTop1)}; torch ${torchFlags(s.torchBest)} ${pct(s.torchBest.valTop1)}`,
      );
    }
    return;
  }

  const t0 = performance.now();
  // --from-results C: the table of the rows results.jsonl recorded for convzoo commit C (a run stopped
  // part-way still gives its finished rows), instead of measuring.
  const rows = args.fromResults
    ? await recordedRows(join(args.work, "results.jsonl"), args.fromResults)
    : await measure(args, data, pretrained, commit);
  const summary = summarise(rows, args.tasks, args.methods);
  const minutes = (performance.now() - t0) / 60000;
  const seedsSeen = [...new Set(rows.map((r) => r.seed))].join(",");
  const text = [
    args.fromResults
      ? `small-data bench, the rows recorded for convzoo ${args.fromResults} (seeds ${seedsSeen}), tabulated ${started.toISOString().slice(0, 16)}Z`
      : `small-data bench, ${started.toISOString().slice(0, 16)}Z, convzoo ${commit}, seeds ${args.seeds.join(",")}, ${minutes.toFixed(1)} min`,
    "",
    table(summary, args.tasks, args.methods),
    "",
    flagsTable(rows, args.tasks),
    "",
    ...goals(summary, args.tasks).map((l) => `- ${l}`),
  ].join("\n");
  if (args.json) {
    log(text);
    console.log(JSON.stringify({ date: started.toISOString(), commit, seeds: args.seeds, minutes, summary, rows }));
  } else {
    console.log(text);
  }
}

/**
 * The rows recorded for the commits (comma-separated); a task, method and seed recorded more than once
 * (in several commits, or re-run in one): the row of the commit named later in the list, its last.
 */
async function recordedRows(file: string, commits: string): Promise<Row[]> {
  const lines = (await readFile(file, "utf8")).split("\n").filter(Boolean);
  const recorded = lines.map((l) => JSON.parse(l) as Row & { commit: string });
  const byKey = new Map<string, Row>();
  for (const commit of commits.split(",")) {
    const rows = recorded.filter((r) => r.commit === commit);
    if (!rows.length) throw new Error(`${file}: no rows for convzoo ${commit}`);
    for (const r of rows) byKey.set(`${r.task}\t${r.method}\t${r.seed}`, r);
  }
  return [...byKey.values()];
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

main().catch((e: unknown) => {
  log(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
