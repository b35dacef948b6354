/**
 * `deno task lessons [lesson …]`: run lessons headless through real Jupyter
 * with the Deno kernel and write the results to `out/`.
 *
 * For each lesson (every notebook in `notebooks/`, sorted by name, or the ones
 * named on the command line):
 *
 * 1. instrument a working copy (see instrument.ts) and execute it with
 *    `jupyter nbconvert --execute` (see execute.ts);
 * 2. remove the injected cells again and look for a failure and exercise
 *    results (see outcome.ts);
 * 3. write `out/<lesson>.ipynb` and `out/<lesson>.html`, each through a
 *    temporary file and a rename.
 *
 * Then write `out/index.html` and print the same summary. The exit code is 1
 * if any lesson failed.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { removeIfPresent, writeTextFileAtomic } from "./_atomic.ts";
import { NOTEBOOKS_DIR, REPO_ROOT } from "./_paths.ts";
import { type RunCommand } from "./_command.ts";
import { executeNotebook, type Execution, exportHtml } from "./execute.ts";
import { instrument, lessonCellIndex, uninstrument } from "./instrument.ts";
import { firstLine, lessonName, type Notebook, notebookJson, readNotebook } from "./ipynb.ts";
import { assess } from "./outcome.ts";
import {
  indexHtml,
  type LessonFailure,
  type LessonResult,
  progressOutcome,
  progressPrefix,
  summaryTable,
} from "./report.ts";
import { SetupError, type SetupHost, setUpJupyter } from "./setup.ts";

export { NOTEBOOKS_DIR, REPO_ROOT };

/** Seconds one cell may run, unless --timeout says otherwise. */
export const DEFAULT_CELL_TIMEOUT = 300;

/** Options of {@link runLessons}. */
export interface RunOptions {
  /** Output directory (default: `out/` in the repository). */
  outDir?: string;
  /** Seconds one cell may run (default {@link DEFAULT_CELL_TIMEOUT}). */
  cellTimeout?: number;
  /** Install Jupyter and the kernel first (default true); a host to set up. */
  setup?: boolean | SetupHost;
  /** Where progress and the summary go (default: stdout). */
  print?: (text: string) => void;
  run?: RunCommand;
}

/**
 * Runs the lessons at `paths` in order and writes their results to the
 * output directory; returns one result per lesson.
 */
export async function runLessons(
  paths: readonly string[],
  options: RunOptions = {},
): Promise<LessonResult[]> {
  const print = options.print ?? writeStdout;
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, "out"));
  if (options.setup !== false) {
    await setUpJupyter(options.setup === true ? undefined : options.setup);
  }
  await Deno.mkdir(outDir, { recursive: true });
  const workDir = await Deno.makeTempDir({ dir: outDir, prefix: ".work-" });
  const results: LessonResult[] = [];
  try {
    for (const [i, path] of paths.entries()) {
      print(progressPrefix(i + 1, paths.length, lessonName(path)));
      const result = await runLesson(resolve(path), outDir, workDir, options);
      print(progressOutcome(result) + "\n");
      results.push(result);
    }
  } finally {
    await removeIfPresent(workDir);
  }
  const indexPath = join(outDir, "index.html");
  await writeTextFileAtomic(indexPath, indexHtml(results, new Date()));
  print("\n" + summaryTable(results, indexPath) + "\n");
  return results;
}

function writeStdout(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

/** Steps 1–3 of the module comment for one lesson. */
async function runLesson(
  path: string,
  outDir: string,
  workDir: string,
  options: RunOptions,
): Promise<LessonResult> {
  const started = performance.now();
  const lesson = lessonName(path);
  const result = (failure: LessonFailure | undefined, rest: Partial<LessonResult> = {}) => ({
    lesson,
    path,
    status: failure ? "failed" as const : "ok" as const,
    seconds: (performance.now() - started) / 1000,
    failure,
    exercises: [],
    files: {},
    ...rest,
  });

  let source: Notebook;
  try {
    source = await readNotebook(path);
  } catch (error) {
    await removeOutputs(outDir, lesson);
    return result({ error: String(error), details: [] });
  }
  const working = instrument(source);
  const execution = await executeNotebook(working, {
    cwd: dirname(path),
    workDir,
    name: lesson,
    cellTimeout: options.cellTimeout ?? DEFAULT_CELL_TIMEOUT,
    run: options.run,
  });
  if (execution.kind === "crashed") {
    await removeOutputs(outDir, lesson);
    return result(crashFailure(execution, working, source));
  }

  const executed = uninstrument(execution.notebook);
  const { failure, exercises } = assess(executed);
  const { files, error } = await writeOutputs(executed, lesson, outDir, workDir, options.run);
  const exportFailure = error === undefined ? undefined : { error, details: [] };
  return result(failure ?? exportFailure, { exercises, files });
}

/** Without an executed notebook, an older run's files must not look current. */
async function removeOutputs(outDir: string, lesson: string): Promise<void> {
  await removeIfPresent(join(outDir, `${lesson}.ipynb`));
  await removeIfPresent(join(outDir, `${lesson}.html`));
}

/** The failure of a lesson whose execution stopped, pinned to a lesson cell if known. */
function crashFailure(
  crash: Extract<Execution, { kind: "crashed" }>,
  working: Notebook,
  source: Notebook,
): LessonFailure {
  const index = crash.cellIndex === undefined
    ? undefined
    : lessonCellIndex(working, crash.cellIndex);
  const cell = index === undefined
    ? {}
    : { cell: index + 1, firstLine: firstLine(source.cells[index]) };
  return { ...cell, error: crash.reason, details: crash.details };
}

/**
 * Writes `<lesson>.ipynb` and `<lesson>.html` in `workDir`, then renames them
 * into `outDir`. Returns the names written, and an error message if the HTML
 * export failed.
 */
async function writeOutputs(
  executed: Notebook,
  lesson: string,
  outDir: string,
  workDir: string,
  run: RunCommand | undefined,
): Promise<{ files: LessonResult["files"]; error?: string }> {
  const notebook = `${lesson}.ipynb`;
  const html = `${lesson}.html`;
  await Deno.writeTextFile(join(workDir, notebook), notebookJson(executed));
  const error = await exportHtml(join(workDir, notebook), workDir, lesson, run);
  await Deno.rename(join(workDir, notebook), join(outDir, notebook));
  if (error !== undefined) {
    await removeIfPresent(join(outDir, html));
    return { files: { notebook }, error };
  }
  await Deno.rename(join(workDir, html), join(outDir, html));
  return { files: { notebook, html } };
}

/** The lessons in `dir`: its `.ipynb` files, sorted by name. */
export async function listLessons(dir = NOTEBOOKS_DIR): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ipynb") && !entry.name.startsWith(".")) {
      names.push(entry.name);
    }
  }
  return names.sort().map((name) => join(dir, name));
}

/** A command-line mistake; the message says what was wrong. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * The notebooks named on the command line: a lesson name (`00_tour`) is
 * looked up in `notebooks/`; anything with a `/` or ending in `.ipynb` is a
 * path, relative to `cwd`.
 */
export async function resolveLessons(
  names: readonly string[],
  cwd: string,
  dir = NOTEBOOKS_DIR,
): Promise<string[]> {
  const available = await listLessons(dir);
  if (names.length === 0) return available;
  return Promise.all(names.map(async (name) => {
    const isPath = name.includes("/") || name.endsWith(".ipynb");
    const path = isPath ? resolve(cwd, name) : join(dir, `${name}.ipynb`);
    if (await isFile(path)) return path;
    const known = available.map((p) => lessonName(p)).join(", ") || "none";
    throw new UsageError(
      isPath
        ? `no notebook at ${JSON.stringify(name)} (looked for ${path})`
        : `no lesson named ${JSON.stringify(name)} in ${dir} (lessons: ${known})`,
    );
  }));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

const USAGE = `Usage: deno task lessons [--timeout=SECONDS] [--out=DIR] [LESSON ...]

Runs lessons through Jupyter with the Deno kernel and writes the executed
notebooks, their HTML export and index.html to out/ (or DIR).
LESSON is a name from notebooks/ (00_tour) or a path to a .ipynb file;
without any, every notebook in notebooks/ runs. A cell may run for
SECONDS (default ${DEFAULT_CELL_TIMEOUT}) before the lesson fails.`;

/** Command-line options of `deno task lessons`. */
export interface Arguments {
  lessons: string[];
  cellTimeout: number;
  outDir?: string;
  help: boolean;
}

/** Parses the command line; throws {@link UsageError} quoting a bad argument. */
export function parseArguments(args: readonly string[]): Arguments {
  const parsed: Arguments = { lessons: [], cellTimeout: DEFAULT_CELL_TIMEOUT, help: false };
  // `deno task lessons -- …` hands the `--` on, as people type it out of
  // habit from npm: it separates nothing here.
  for (const arg of args.filter((a) => a !== "--")) {
    const [flag, value] = arg.startsWith("-") ? splitFlag(arg) : [undefined, arg];
    if (flag === undefined) parsed.lessons.push(value!);
    else if (flag === "--help" || flag === "-h") parsed.help = true;
    else if (flag === "--timeout") parsed.cellTimeout = positiveNumber(arg, value);
    else if (flag === "--out" && value) parsed.outDir = value;
    else throw new UsageError(`unknown option ${JSON.stringify(arg)}\n\n${USAGE}`);
  }
  return parsed;
}

function splitFlag(arg: string): [string, string | undefined] {
  const equals = arg.indexOf("=");
  return equals < 0 ? [arg, undefined] : [arg.slice(0, equals), arg.slice(equals + 1)];
}

function positiveNumber(arg: string, value: string | undefined): number {
  const number = Number(value);
  if (!value || !Number.isFinite(number) || number <= 0) {
    throw new UsageError(`${JSON.stringify(arg)}: the timeout must be a number of seconds > 0`);
  }
  return number;
}

/** The command: returns the exit code (0 all ok, 1 a lesson failed, 2 usage). */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const parsed = parseArguments(args);
    if (parsed.help) {
      console.log(USAGE);
      return 0;
    }
    // `deno task` runs in the repository root; paths are meant from where the user was.
    const cwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();
    const paths = await resolveLessons(parsed.lessons, cwd);
    if (paths.length === 0) console.log(`No lessons in ${NOTEBOOKS_DIR} yet.`);
    const outDir = parsed.outDir === undefined ? undefined : resolve(cwd, parsed.outDir);
    const results = await runLessons(paths, { cellTimeout: parsed.cellTimeout, outDir });
    return results.every((r) => r.status === "ok") ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    if (error instanceof SetupError) {
      console.error(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
