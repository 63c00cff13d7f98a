/**
 * Long fuzz runs of every reader of untrusted bytes (issue 15, point 7): the same readers, generators and
 * oracle as tests/fuzz/readers.test.ts, at ≥ 100,000 inputs per reader. Each reader runs in a child process
 * that records the index of the input it is on in a tiny shared file; the parent polls it, so an input that
 * takes longer than --hang-seconds is reported as a hang (and the child restarted after it), and reads the
 * child's peak resident set (VmHWM in /proc/<pid>/status). Reported per reader: inputs, results, clean
 * refusals (ConvzooError) and how many distinct messages, crashes (anything else thrown, or a result larger
 * than 4× its input + 1 MiB), hangs, the slowest input, and the largest RSS. Failing inputs are saved.
 *
 *   nice -n 10 node --import tsx bench/fuzz.ts [--inputs 100000] [--seed 1] [--reader pth,safetensors,...]
 *                                              [--hang-seconds 5] [--out bench/fuzz-failures]
 */
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  csvTarget,
  judge,
  metadataTarget,
  onnxTarget,
  pthTarget,
  resumeSeed,
  resumeTarget,
  safetensorsTarget,
  type FuzzTarget,
} from "../tests/fuzz/targets.js";

const READERS = ["pth", "safetensors", "onnx", "csv", "metadata", "resume"] as const;
type Reader = (typeof READERS)[number];

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};

/**
 * Inputs are generated in chunks, chunk k from seed + k, so input i can be regenerated alone. Resume inputs
 * are ~0.5 MB each: a chunk of 1000 would hold 500 MB of inputs and hide the reader's own memory.
 */
const chunkOf = (reader: Reader) => (reader === "resume" ? 50 : 1000);

async function targetFor(reader: Reader, dir: string): Promise<FuzzTarget> {
  switch (reader) {
    case "pth":
      return pthTarget;
    case "safetensors":
      return safetensorsTarget;
    case "onnx":
      return onnxTarget;
    case "csv":
      return csvTarget;
    case "metadata":
      return metadataTarget;
    case "resume":
      return resumeTarget(await resumeSeed(dir), dir);
  }
}

function inputAt(reader: Reader, target: FuzzTarget, seed: number, index: number): Uint8Array {
  const size = chunkOf(reader);
  const chunk = Math.floor(index / size);
  return fc.sample(target.inputs, { seed: seed + chunk, numRuns: size })[index % size];
}

/** Messages with their numbers and quoted names blanked, to count kinds of refusal rather than instances. */
const kindOf = (message: string) =>
  message
    .replace(/"[^"]*"/g, "S")
    .replace(/\d+/g, "N")
    .slice(0, 100);

// --- child: run one reader from `start` to `end` -------------------------------------------------

interface ChildReport {
  kind: "counts" | "done";
  ok: number;
  refused: number;
  refusalKinds: string[];
  slowestMs: number;
  slowestIndex: number;
  largestInput: number;
}

async function child(reader: Reader, seed: number, start: number, end: number, indexFile: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-fuzz-child-"));
  const target = await targetFor(reader, dir);
  const fd = openSync(indexFile, "r+");
  const slot = Buffer.alloc(8);
  const kinds = new Set<string>();
  const report: ChildReport = { kind: "done", ok: 0, refused: 0, refusalKinds: [], slowestMs: 0, slowestIndex: -1, largestInput: 0 };
  const CHUNK = chunkOf(reader);
  for (let chunk = Math.floor(start / CHUNK); chunk * CHUNK < end; chunk++) {
    const inputs = fc.sample(target.inputs, { seed: seed + chunk, numRuns: CHUNK });
    for (let j = 0; j < CHUNK; j++) {
      const index = chunk * CHUNK + j;
      if (index < start) continue;
      if (index >= end) break;
      const input = inputs[j];
      slot.writeUInt32LE(index, 0);
      slot.writeUInt32LE(1, 4); // busy
      writeSync(fd, slot, 0, 8, 0);
      const t0 = performance.now();
      let outcome: { bytes: number } | { error: unknown };
      try {
        outcome = { bytes: await target.read(input) };
      } catch (error) {
        outcome = { error };
      }
      const ms = performance.now() - t0;
      // Not busy: generating the next chunk of inputs is not this input's time.
      slot.writeUInt32LE(0, 4);
      writeSync(fd, slot, 0, 8, 0);
      if (ms > report.slowestMs) {
        report.slowestMs = ms;
        report.slowestIndex = index;
      }
      report.largestInput = Math.max(report.largestInput, input.length);
      const problem = judge(input, outcome);
      if (problem !== undefined) process.send?.({ kind: "crash", index, problem });
      else if ("error" in outcome) {
        report.refused++;
        kinds.add(kindOf((outcome.error as Error).message));
      } else report.ok++;
    }
    // Counts after every chunk, so a child killed on a hang loses none.
    report.refusalKinds = [...kinds];
    process.send?.({ ...report, kind: "counts" });
    kinds.clear();
    Object.assign(report, { ok: 0, refused: 0, refusalKinds: [], slowestMs: 0, largestInput: 0 });
  }
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  report.refusalKinds = [...kinds];
  // Disconnecting after the report lets the child exit; the parent counts it on "close", after every message.
  process.send?.(report, () => process.disconnect());
}

// --- parent ---------------------------------------------------------------------------------------

function peakRssMB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

interface ReaderResult {
  reader: Reader;
  inputs: number;
  ok: number;
  refused: number;
  refusalKinds: Set<string>;
  crashes: { index: number; problem: string }[];
  hangs: number[];
  slowestMs: number;
  largestInput: number;
  peakRssMB: number;
  seconds: number;
}

async function runReader(reader: Reader, inputs: number, seed: number, hangSeconds: number, out: string): Promise<ReaderResult> {
  const started = performance.now();
  const result: ReaderResult = {
    reader,
    inputs,
    ok: 0,
    refused: 0,
    refusalKinds: new Set(),
    crashes: [],
    hangs: [],
    slowestMs: 0,
    largestInput: 0,
    peakRssMB: 0,
    seconds: 0,
  };
  const indexFile = join(tmpdir(), `convzoo-fuzz-${process.pid}-${reader}`);
  let start = 0;
  const save = async (index: number, what: string) => {
    mkdirSync(out, { recursive: true });
    const dir = mkdtempSync(join(tmpdir(), "convzoo-fuzz-regen-"));
    const input = inputAt(reader, await targetFor(reader, dir), seed, index);
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(join(out, `${reader}-${what}-${index}.bin`), input);
  };
  while (start < inputs) {
    writeFileSync(indexFile, Buffer.alloc(8));
    const proc: ChildProcess = fork(
      fileURLToPath(import.meta.url),
      ["--child", reader, String(seed), String(start), String(inputs), indexFile],
      {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    const ended = await new Promise<{ hangAt: number | null }>((resolve) => {
      let last = -1;
      let since = performance.now();
      const timer = setInterval(() => {
        result.peakRssMB = Math.max(result.peakRssMB, peakRssMB(proc.pid!));
        const slot = readFileSync(indexFile);
        const index = slot.readUInt32LE(0);
        if (index !== last) {
          last = index;
          since = performance.now();
        } else if (slot.readUInt32LE(4) === 1 && performance.now() - since > hangSeconds * 1000) {
          clearInterval(timer);
          proc.kill("SIGKILL");
          resolve({ hangAt: index });
        }
      }, 250);
      proc.on("message", (m: ChildReport | { kind: "crash"; index: number; problem: string }) => {
        if (m.kind === "crash") result.crashes.push({ index: m.index, problem: m.problem });
        else {
          result.ok += m.ok;
          result.refused += m.refused;
          for (const k of m.refusalKinds) result.refusalKinds.add(k);
          if (m.slowestMs > result.slowestMs) result.slowestMs = m.slowestMs;
          result.largestInput = Math.max(result.largestInput, m.largestInput);
        }
      });
      proc.on("close", (code, signal) => {
        clearInterval(timer);
        if (code !== 0 && signal !== "SIGKILL") {
          // A native crash or an uncaught error ended the child: the input it was on is the culprit.
          const index = readFileSync(indexFile).readUInt32LE(0);
          result.crashes.push({ index, problem: `child exited with ${signal ?? `code ${code}`}` });
          resolve({ hangAt: index });
        } else resolve({ hangAt: null });
      });
    });
    if (ended.hangAt === null) break;
    if (!result.crashes.some((c) => c.index === ended.hangAt)) result.hangs.push(ended.hangAt);
    await save(ended.hangAt, "hang");
    start = ended.hangAt + 1;
  }
  rmSync(indexFile, { force: true });
  for (const c of result.crashes.slice(0, 20)) await save(c.index, "crash");
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

async function parent(): Promise<void> {
  const inputs = Number(flag("--inputs", "100000"));
  const seed = Number(flag("--seed", "1"));
  const hangSeconds = Number(flag("--hang-seconds", "5"));
  const out = flag("--out", "bench/fuzz-failures");
  const readers = flag("--reader", READERS.join(",")).split(",") as Reader[];
  console.log(`fuzz: ${inputs} inputs per reader, seed ${seed}, hang threshold ${hangSeconds} s, node ${process.version}`);
  console.log(
    "reader | inputs | results | refused (ConvzooError) | kinds of refusal | crashes | hangs | slowest ms | largest input B | peak RSS MB | s",
  );
  console.log("--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---");
  let failures = 0;
  for (const reader of readers) {
    const r = await runReader(reader, inputs, seed, hangSeconds, out);
    failures += r.crashes.length + r.hangs.length;
    console.log(
      [
        reader,
        r.inputs,
        r.ok,
        r.refused,
        r.refusalKinds.size,
        r.crashes.length,
        r.hangs.length,
        r.slowestMs.toFixed(1),
        r.largestInput,
        r.peakRssMB.toFixed(0),
        r.seconds.toFixed(0),
      ].join(" | "),
    );
    for (const c of r.crashes.slice(0, 10)) console.log(`  crash at input ${c.index}: ${c.problem}`);
    for (const h of r.hangs.slice(0, 10)) console.log(`  hang at input ${h} (over ${hangSeconds} s)`);
  }
  console.log(failures === 0 ? "no crash, no hang" : `${failures} failing inputs saved under ${out}/`);
  process.exitCode = failures === 0 ? 0 : 1;
}

if (args[0] === "--child") {
  const [, reader, seed, start, end, indexFile] = args;
  await child(reader as Reader, Number(seed), Number(start), Number(end), indexFile);
} else {
  await parent();
}
