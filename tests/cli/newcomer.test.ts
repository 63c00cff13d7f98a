/**
 * What a newcomer stumbled on (issue 12, point 9), tried as a new user would: every error one line
 * in the documented form, the same names everywhere, `models` with a glob, a suggestion for a
 * mistyped arch, the stages `--unfreeze-stages` counts, progress lines when output is not a
 * terminal, and the demo writing to the user's cache folder, not the current one.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import { CLI, convzoo, type CliResult } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

/** Exit code 1 and exactly one line on stderr: `convzoo: error: …` containing each fragment. */
function assertOneLineError(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0], /^convzoo: error: \S/);
  for (const f of fragments) assert.ok(lines[0].includes(f), `stderr should contain ${JSON.stringify(f)}:\n${r.stderr}`);
}

function run(args: string[], env: Record<string, string> = {}, cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("a newcomer's stumbles", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-newcomer-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("commander's own errors are one line 'convzoo: error: …', exit 1, for every command", () => {
    assertOneLineError(convzoo("classify", "x.jpg", "--arch", "resnet18"), "required option '--weights <file|name>' not specified");
    assertOneLineError(convzoo("summary"), "missing required argument 'arch'");
    assertOneLineError(convzoo("summary", "resnet18", "--no-such-flag"), "unknown option '--no-such-flag'");
    assertOneLineError(convzoo("summary", "resnet18", "extra"), "too many arguments");
    assertOneLineError(convzoo("summary", "resnet18", "--resolution", "abc"), '--resolution expects a positive integer, got "abc"');
    assertOneLineError(convzoo("bench", "infer", "--runs", "3"), "required option '--arch <arch>' not specified");
    assertOneLineError(convzoo("sumary", "resnet18"), "unknown command 'sumary'", "summary");
    assertOneLineError(convzoo("train", "--no-such-flag"), "unknown option '--no-such-flag'");
    assertOneLineError(convzoo("eval", "somewhere"), "required option '--weights <file|name>' not specified");
    // Help and version still go to stdout with exit code 0.
    const help = convzoo("summary", "--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: convzoo summary/);
    assert.equal(convzoo("--version").status, 0);
  });

  test("no option's help repeats its default ('(default 1000) (default: 1000)')", () => {
    const names = ["models", "summary", "classify", "export", "compare", "train", "eval", "bench infer", "bench train", "demo"];
    const commands = names.map((c) => c.split(" "));
    for (const command of commands) {
      const r = convzoo(...command, "--help");
      assert.equal(r.status, 0, r.stderr);
      // One option's text runs from its flag to the next flag (help wraps long descriptions).
      for (const option of r.stdout.split(/\n(?= {2}-)/)) {
        assert.ok((option.match(/\(default/g) ?? []).length <= 1, `${command.join(" ")}: ${option}`);
      }
    }
    const bench = convzoo("bench", "train", "--help").stdout;
    assert.match(bench, /--num-classes <K>\s+classifier outputs \(default: 1000\)/);
    assert.doesNotMatch(bench, /--classes/, "the old name is a hidden alias");
    assertOneLineError(convzoo("bench", "train", "--arch", "resnet18", "--num-classes", "0"), "--num-classes expects a positive integer");
    assertOneLineError(convzoo("bench", "train", "--arch", "resnet18", "--classes", "0"), "--classes expects a positive integer");
  });

  test("eval takes --weights like every other command, --checkpoint still works, and a plain state dict is named as such", async () => {
    const data = join(dir, "eval-data");
    await writeSyntheticFolder(data, { classes: 2, perClass: 2, size: 32, seed: 1, names: ["a", "b"] });
    const model = createModel("mobilenet_v3_small", { numClasses: 2 });
    initializeWeights(model, 1);
    const checkpoint = join(dir, "two.safetensors");
    const meta = { arch: "mobilenet_v3_small", options: model.options, classes: ["a", "b"], resolution: 32 };
    await saveCheckpoint(checkpoint, stateDict(model), meta);
    const byWeights = convzoo("eval", data, "--weights", checkpoint, "--json");
    assert.equal(byWeights.status, 0, byWeights.stderr);
    const byCheckpoint = convzoo("eval", data, "--checkpoint", checkpoint, "--json");
    assert.equal(byCheckpoint.status, 0, byCheckpoint.stderr);
    const a = JSON.parse(byWeights.stdout) as { images: number; top1: number; loss: number };
    assert.equal(a.images, 4);
    assert.deepEqual(JSON.parse(byCheckpoint.stdout), a);
    assert.match(convzoo("eval", "--help").stdout, /--weights <file\|name>/);
    const both = convzoo("eval", data, "--weights", checkpoint, "--checkpoint", join(dir, "other.safetensors"));
    assertOneLineError(both, "--checkpoint is another name for --weights");

    // A state dict without convzoo metadata: eval cannot use --arch (it needs the class names), so it
    // must not suggest it.
    const bare = join(dir, "bare.safetensors");
    writeFileSync(bare, writeSafetensors(stateDict(model)));
    const r = convzoo("eval", data, "--weights", bare);
    assertOneLineError(r, `${bare}: no convzoo class names`);
    assert.doesNotMatch(r.stderr, /--arch/);
  });

  test("models takes glob filters (timm's list_models), --json too", () => {
    const names = (r: CliResult) => (JSON.parse(r.stdout) as { arch: string }[]).map((x) => x.arch);
    const resnets = convzoo("models", "resnet*", "--json");
    assert.equal(resnets.status, 0, resnets.stderr);
    assert.deepEqual(names(resnets), ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet18_plain", "resnet34_plain"]);
    assert.deepEqual(names(convzoo("models", "resnet?", "vgg1[16]", "--json")), ["vgg11", "vgg16"]);
    assert.deepEqual(names(convzoo("models", "*_BN", "--json")), ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"], "case-insensitive");
    const plainWord = names(convzoo("models", "mobilenet_v3", "--json"));
    assert.deepEqual(plainWord, ["mobilenet_v3_large", "mobilenet_v3_small"], "a plain word matches anywhere");
    const human = convzoo("models", "efficientnet_b[01]");
    assert.equal(human.status, 0, human.stderr);
    assert.deepEqual(
      human.stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
      ["efficientnet_b0", "efficientnet_b1"],
    );
    const none = convzoo("models", "nothing*", "--json");
    assert.equal(none.status, 0);
    assert.deepEqual(JSON.parse(none.stdout), []);
    assert.match(none.stderr, /no architecture matches "nothing\*"/);
  });

  test("a mistyped architecture gets the nearest names", () => {
    assertOneLineError(convzoo("summary", "resnet-18"), 'unknown architecture "resnet-18". Did you mean resnet18?', "convzoo models");
    assertOneLineError(convzoo("summary", "MobileNetV2"), "Did you mean mobilenet_v2?");
    assertOneLineError(convzoo("summary", "resnet51"), "Did you mean resnet50?");
    assertOneLineError(convzoo("export", "efficientnet-b0", "--out", join(dir, "x.onnx")), "Did you mean efficientnet_b0?");
  });

  test("summary shows the stages --unfreeze-stages counts, numbered from the deepest", () => {
    const r = convzoo("summary", "resnet18", "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).stages, [
      { name: "relu", unfreezeStages: 5, outputShape: [1, 64, 112, 112] },
      { name: "layer1", unfreezeStages: 4, outputShape: [1, 64, 56, 56] },
      { name: "layer2", unfreezeStages: 3, outputShape: [1, 128, 28, 28] },
      { name: "layer3", unfreezeStages: 2, outputShape: [1, 256, 14, 14] },
      { name: "layer4", unfreezeStages: 1, outputShape: [1, 512, 7, 7] },
    ]);
    const human = convzoo("summary", "mobilenet_v2");
    assert.match(human.stdout, /^stages, shallow to deep \(--unfreeze-stages K/m);
    assert.match(human.stdout, /^1\s+features\.18\s+\[1, 1280, 7, 7\]$/m);
    assert.match(human.stdout, /^5\s+features\.1\s+\[1, 16, 112, 112\]$/m);
  });

  test("off a terminal, training prints plain progress lines (here every step: CONVZOO_PROGRESS_INTERVAL=0)", async () => {
    const data = join(dir, "train-data");
    await writeSyntheticFolder(data, { classes: 2, perClass: 4, size: 32, seed: 2 });
    const args = ["train", data, "--arch", "mobilenet_v3_small", "--resolution", "32", "--epochs", "1", "--batch-size", "2"];
    const flags = ["--val-split", "0", "--threads", "1", "--no-report", "--save", join(dir, "progress.safetensors")];
    const r = run([...args, ...flags], { CONVZOO_PROGRESS_INTERVAL: "0" });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("epoch 1 step "));
    assert.ok(lines.length >= 2, `progress lines expected:\n${r.stderr}`);
    assert.match(lines.at(-1)!, /^epoch 1 step \d\/4 {2}loss \d+\.\d{4} {2}\d+\.\d img\/s {2}ETA (\d+m)?\d+s$/);
    assert.ok(!r.stderr.includes("\x1b[") && !r.stderr.includes("\r"), "no terminal control codes in a log");
    assert.match(r.stderr, /^epoch 1: loss/m, "the epoch line as before");
  });

  test("demo writes to the user's cache folder by default and says so first", async () => {
    const cache = join(dir, "cache");
    const cwd = join(dir, "cwd");
    for (const d of [cache, cwd]) rmSync(d, { recursive: true, force: true });
    mkdirSync(cwd);
    const env = { ...process.env, XDG_CACHE_HOME: cache };
    const child = spawn(process.execPath, [CLI, "demo"], { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
    const first = await new Promise<string>((resolve, reject) => {
      let text = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        text += chunk;
        if (text.includes("\n")) resolve(text.split("\n")[0]);
      });
      child.on("exit", (code) => reject(new Error(`demo exited (${code}) before a line: ${text}`)));
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill();
    await exited;
    const out = join(cache, "convzoo", "demo");
    assert.ok(first.includes(out), `the first line names ${out}: ${first}`);
    assert.ok(existsSync(out));
    assert.deepEqual(readdirSync(cwd), [], "nothing written to the current folder");
  });
});
