/**
 * Type-checking lessons: the Deno kernel runs TypeScript without checking
 * it, so a lesson can drift from `lib/` without failing.
 *
 * 1. Extract each notebook's code cells into one TypeScript module. Cells
 *    import relative to their notebook (`../lib/mod.ts` from `notebooks/`),
 *    so the module is a hidden file in the notebook's own directory, where
 *    every relative import resolves as it does in the kernel:
 *    `notebooks/00_tour.ipynb` → `notebooks/.nbcheck-<pid>-00_tour.ts`
 *    (git-ignored, removed afterwards; not under `out/`, which deno.json
 *    excludes from `deno check`).
 * 2. Run `deno check` on all modules at once, from the repository root so
 *    that deno.json's compiler options and import map apply.
 * 3. Map each error back to lesson, cell and line. Unused-variable errors
 *    (noUnusedLocals) are dropped for notebook code: a cell often declares
 *    a value only to display it.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { removeIfPresent } from "./_atomic.ts";
import { type RunCommand, runCommand } from "./_command.ts";
import { REPO_ROOT } from "./_paths.ts";
import { stripAnsi } from "./ansi.ts";
import {
  firstLine,
  isRunnable,
  joinText,
  lessonName,
  type Notebook,
  readNotebook,
} from "./ipynb.ts";
import { listLessons } from "./lessons.ts";

/** Where a module line came from: cell (counted from 1 over all cells) and line in it. */
export interface CellLine {
  cell: number;
  line: number;
}

/** A notebook's code cells as one module, with a map from module lines to cells. */
export interface ExtractedModule {
  code: string;
  /** `lines[n - 1]` is the origin of module line n (undefined for added lines). */
  lines: (CellLine | undefined)[];
}

/** Step 1: the code cells of `nb` as a module, each cell after a `// cell N` comment. */
export function extractModule(nb: Notebook, lesson: string): ExtractedModule {
  const code: string[] = [`// Code cells of ${lesson}, extracted for deno check.`];
  const lines: (CellLine | undefined)[] = [undefined];
  nb.cells.forEach((cell, index) => {
    if (!isRunnable(cell)) return;
    code.push(`// cell ${index + 1}`);
    lines.push(undefined);
    joinText(cell.source).split("\n").forEach((text, line) => {
      code.push(text);
      lines.push({ cell: index + 1, line: line + 1 });
    });
  });
  // A module, not a script: top-level await works and lessons do not share globals.
  code.push("export {};");
  lines.push(undefined);
  return { code: code.join("\n") + "\n", lines };
}

/** One `deno check` error, as printed. */
export interface CheckError {
  /** `TS2322`, or `error` for a failure that is not a TypeScript diagnostic. */
  code: string;
  message: string;
  /** File URL and position, when the error has one. */
  url?: string;
  line?: number;
  column?: number;
}

const TS_HEADER = /^(TS\d+) \[(?:ERROR|WARNING)\]: (.*)$/;
const OTHER_HEADER = /^error: (.*)$/;
const LOCATION = /^ {4}at (\S+):(\d+):(\d+)$/;
const CARET = /^\s*[~^]+\s*$/;

/** Step 2's output as a list of errors (deno check run with NO_COLOR). */
export function parseCheckOutput(output: string): CheckError[] {
  const errors: CheckError[] = [];
  let current: { error: CheckError; body: string[] } | undefined;
  const finish = () => {
    if (!current) return;
    // Between the header and the location: message continuation lines,
    // then the offending source line and a caret line.
    const body = CARET.test(current.body.at(-1) ?? "") ? current.body.slice(0, -2) : current.body;
    const more = body.map((line) => line.trim()).filter(Boolean);
    current.error.message = [current.error.message, ...more].join(" ");
    errors.push(current.error);
    current = undefined;
  };
  for (const line of stripAnsi(output).split("\n")) {
    const header = line.match(TS_HEADER) ??
      (line === "error: Type checking failed." ? null : line.match(OTHER_HEADER));
    if (header) {
      finish();
      const [code, message] = header.length === 3 ? [header[1], header[2]] : ["error", header[1]];
      current = { error: { code, message }, body: [] };
      continue;
    }
    const location = line.match(LOCATION);
    if (current && location) {
      current.error.url = location[1];
      current.error.line = Number(location[2]);
      current.error.column = Number(location[3]);
      finish();
    } else if (current) {
      current.body.push(line);
    }
  }
  finish();
  return errors;
}

/** A type error located in a lesson cell, or elsewhere (in lib/, say). */
export interface Diagnostic extends CheckError {
  /** Set when the error is in a lesson. */
  lesson?: string;
  cell?: number;
  cellLine?: number;
  firstLine?: string;
  /** The file, relative to the repository, when not in a lesson. */
  file?: string;
}

// noUnusedLocals / noUnusedParameters diagnostics, not wanted for cells.
const UNUSED = new Set(["TS6133", "TS6138", "TS6192", "TS6196", "TS6198", "TS6199", "TS6205"]);

/** Result of {@link typecheckNotebooks}. */
export interface TypecheckResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** What deno check printed, for errors the parser did not recognise. */
  output: string;
}

interface Extracted {
  lesson: string;
  notebook: Notebook;
  module: ExtractedModule;
  path: string;
}

/** Steps 1–3 for the notebooks at `paths`. */
export async function typecheckNotebooks(
  paths: readonly string[],
  run: RunCommand = runCommand,
): Promise<TypecheckResult> {
  if (paths.length === 0) return { ok: true, diagnostics: [], output: "" };
  const extracted: Extracted[] = [];
  try {
    for (const notebookPath of paths.map((p) => resolve(p))) {
      const notebook = await readNotebook(notebookPath);
      const lesson = lessonName(notebookPath);
      const module = extractModule(notebook, lesson);
      const path = modulePath(notebookPath);
      extracted.push({ lesson, notebook, module, path });
      await Deno.writeTextFile(path, module.code);
    }
    const result = await run(Deno.execPath(), ["check", ...extracted.map((e) => e.path)], {
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
    });
    const output = result.stdout + result.stderr;
    const errors = parseCheckOutput(output);
    const diagnostics = errors
      .map((error) => locate(error, extracted))
      .filter((d) => !(d.lesson !== undefined && UNUSED.has(d.code)));
    // deno check fails on the dropped unused-variable errors too; a failure
    // with nothing recognisable in its output is a failure all the same.
    const ok = diagnostics.length === 0 && (result.success || errors.length > 0);
    return { ok, diagnostics, output };
  } finally {
    for (const { path } of extracted) await removeIfPresent(path);
  }
}

/** Where the module extracted from the notebook at `notebookPath` goes (step 1). */
export function modulePath(notebookPath: string): string {
  const path = resolve(notebookPath);
  return join(dirname(path), `.nbcheck-${Deno.pid}-${lessonName(path)}.ts`);
}

/** Step 3: attach lesson, cell and line to an error in an extracted module. */
function locate(error: CheckError, extracted: readonly Extracted[]): Diagnostic {
  const module = extracted.find((e) => error.url === pathToFileURL(e.path).href);
  const origin = module && error.line ? module.module.lines[error.line - 1] : undefined;
  if (module && origin) {
    const cell = module.notebook.cells[origin.cell - 1];
    return {
      ...error,
      lesson: module.lesson,
      cell: origin.cell,
      cellLine: origin.line,
      firstLine: firstLine(cell),
    };
  }
  if (module) return { ...error, lesson: module.lesson };
  const file = error.url?.startsWith("file:")
    ? relative(REPO_ROOT, fileURLToPath(error.url))
    : error.url;
  return { ...error, file };
}

/** `00_tour cell 4 (p.read(a)), line 2:7: TS2322 Type …` or `lib/x.ts:3:1: TS…`. */
export function formatDiagnostic(d: Diagnostic): string {
  const column = d.column === undefined ? "" : `:${d.column}`;
  let where: string;
  if (d.cell !== undefined) {
    const label = d.firstLine ? `cell ${d.cell} (${d.firstLine})` : `cell ${d.cell}`;
    where = `${d.lesson} ${label}, line ${d.cellLine}${column}`;
  } else if (d.lesson !== undefined) {
    where = d.lesson;
  } else {
    where = d.file === undefined ? "deno check" : `${d.file}${d.line ? `:${d.line}${column}` : ""}`;
  }
  return `${where}: ${d.code} ${d.message}`;
}

/** `deno run -A lib/notebook/typecheck.ts [notebook …]`: check lessons (default: all). */
async function main(args: readonly string[]): Promise<number> {
  const paths = args.length > 0 ? [...args] : await listLessons();
  const result = await typecheckNotebooks(paths);
  for (const diagnostic of result.diagnostics) console.log(formatDiagnostic(diagnostic));
  if (!result.ok && result.diagnostics.length === 0) console.log(result.output);
  console.log(
    `${paths.length} notebooks type-checked: ${result.ok ? "ok" : "type errors found"}`,
  );
  return result.ok ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
