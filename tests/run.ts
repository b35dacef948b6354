/**
 * `deno task test [deno test options …]`: everything this repository checks.
 *
 * 1. Jupyter set-up, as `deno task lessons` does it (install nbconvert,
 *    register the Deno kernel), so that a fresh machine needs no other step.
 * 2. Gates: `deno fmt --check`, `deno lint`, `deno check` on lib/, tests/
 *    and bench/ (those that exist).
 * 3. `deno test -A` on every test file (unit tests beside the code in lib/,
 *    suites in tests/), with the extra arguments passed through (a
 *    `--filter`, say; a leading `--` is dropped). Its output is streamed and
 *    its summary line read.
 *
 * The set-up and each gate count as one test. The very last line printed is
 * `N passed, K failed`; the exit code is 1 if anything failed.
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "../lib/notebook/_paths.ts";
import { setUpJupyter } from "../lib/notebook/setup.ts";
import { type Tally, tallyLine, testTally } from "../lib/notebook/test_summary.ts";

const DENO = Deno.execPath();
const encoder = new TextEncoder();

function say(text: string): void {
  writeAll(Deno.stdout, encoder.encode(text + "\n"));
}

function writeAll(sink: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) written += sink.writeSync(bytes.subarray(written));
}

/** One gate's outcome, for the recap. */
interface Gate {
  name: string;
  ok: boolean;
}

/** Step 1. */
async function setUp(): Promise<Gate> {
  const name = "Jupyter set-up";
  say(`\n── ${name}`);
  try {
    await setUpJupyter();
    say("nbconvert and the Deno kernel are ready.");
    return { name, ok: true };
  } catch (error) {
    say(`${(error as Error).message}`);
    return { name, ok: false };
  }
}

/** Runs one gate command with its output going straight to the terminal. */
async function gate(args: string[]): Promise<Gate> {
  const name = `deno ${args.join(" ")}`;
  say(`\n── ${name}`);
  const { code } = await new Deno.Command(DENO, {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return { name, ok: code === 0 };
}

/** The directories `deno check` should cover: lib/, tests/, bench/ when they hold code. */
function checkTargets(): string[] {
  return ["lib", "tests", "bench"].filter((dir) => hasTypeScript(join(REPO_ROOT, dir)));
}

function hasTypeScript(dir: string): boolean {
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && /\.(ts|tsx|mts)$/.test(entry.name)) return true;
      if (entry.isDirectory && hasTypeScript(join(dir, entry.name))) return true;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return false;
}

/** Step 3: `deno test -A …`, streamed to the terminal and tallied. */
async function runTests(extra: readonly string[]): Promise<Tally> {
  say(`\n── deno test -A ${extra.join(" ")}`.trimEnd());
  const child = new Deno.Command(DENO, {
    args: ["test", "-A", ...extra],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const seen: string[] = [];
  await Promise.all([pump(child.stdout, Deno.stdout, seen), pump(child.stderr, Deno.stderr, seen)]);
  const { code } = await child.status;
  return testTally(seen.join(""), code);
}

/** Copies `stream` to `sink` as it arrives, keeping the text in `seen`. */
async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: { writeSync(p: Uint8Array): number },
  seen: string[],
): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    writeAll(sink, chunk);
    seen.push(decoder.decode(chunk, { stream: true }));
  }
}

async function main(args: readonly string[]): Promise<number> {
  const gates: Gate[] = [await setUp()];
  gates.push(await gate(["fmt", "--check"]));
  gates.push(await gate(["lint"]));
  const targets = checkTargets();
  if (targets.length > 0) gates.push(await gate(["check", ...targets]));
  const tests = await runTests(args);

  const gatesFailed = gates.filter((g) => !g.ok).length;
  say("\n── summary");
  for (const g of gates) say(`  ${g.ok ? "ok    " : "FAILED"}  ${g.name}`);
  say(`  deno test: ${tallyLine(tests)}`);
  const total = {
    passed: tests.passed + gates.length - gatesFailed,
    failed: tests.failed + gatesFailed,
  };
  say(tallyLine(total));
  return total.failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  // `deno task test -- --filter x` hands the `--` on; it only separates.
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  Deno.exit(await main(args));
}
