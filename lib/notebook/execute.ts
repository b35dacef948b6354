/**
 * Executing a notebook through real Jupyter (`jupyter nbconvert --execute`)
 * with the Deno kernel, and exporting it to HTML.
 *
 * nbconvert runs with `nbconvert_config.py` beside this file: it keeps output
 * the Deno kernel publishes late, and prints `mm-lab: executing cell <index>`
 * before each cell so that a timeout or a dead kernel can be pinned to a cell.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunCommand, runCommand } from "./_command.ts";
import { type Notebook, notebookJson, readNotebook } from "./ipynb.ts";
import { KERNEL_NAME } from "./setup.ts";

const NBCONVERT_CONFIG = fileURLToPath(new URL("./nbconvert_config.py", import.meta.url));

/** How to execute one notebook. */
export interface ExecuteOptions {
  /** Directory the kernel runs in, so that relative imports resolve from it. */
  cwd: string;
  /** Scratch directory for nbconvert's output. */
  workDir: string;
  /** Base name for files in `workDir`. */
  name: string;
  /** Seconds one cell may run before the execution is abandoned. */
  cellTimeout: number;
  run?: RunCommand;
}

/** The executed notebook, or why nbconvert stopped without writing one. */
export type Execution =
  | { kind: "executed"; notebook: Notebook }
  | { kind: "crashed"; cellIndex?: number; reason: string; details: string[] };

/** Executes `nb` with the Deno kernel; cell errors are kept as outputs. */
export async function executeNotebook(nb: Notebook, options: ExecuteOptions): Promise<Execution> {
  const run = options.run ?? runCommand;
  const output = `${options.name}.executed`;
  const args = [
    "nbconvert",
    `--config=${NBCONVERT_CONFIG}`,
    "--stdin",
    "--to=notebook",
    "--execute",
    "--allow-errors",
    `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
    `--ExecutePreprocessor.timeout=${options.cellTimeout}`,
    `--output-dir=${options.workDir}`,
    `--output=${output}`,
  ];
  // The notebook goes in on stdin: nbconvert then starts the kernel in its
  // own working directory, which is the lesson's.
  const result = await run("jupyter", args, { cwd: options.cwd, stdin: notebookJson(nb) });
  if (!result.success) return { kind: "crashed", ...parseCrash(result.stderr) };
  return {
    kind: "executed",
    notebook: await readNotebook(join(options.workDir, `${output}.ipynb`)),
  };
}

const CELL_MARKER = /^mm-lab: executing cell (\d+)$/;
// The exception line a Python traceback ends with, e.g.
// "nbclient.exceptions.CellTimeoutError: A cell timed out …".
const EXCEPTION_LINE = /^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Kernel)):?\s*(.*)$/;

/** The cell (working-copy index) that was running and the reason nbconvert gave. */
export function parseCrash(stderr: string): Omit<Extract<Execution, { kind: "crashed" }>, "kind"> {
  const lines = stderr.split("\n").map((line) => line.trimEnd()).filter((line) => line !== "");
  const marker = lines.findLast((line) => CELL_MARKER.test(line))?.match(CELL_MARKER);
  const cellIndex = marker ? Number(marker[1]) : undefined;
  const exception = lines.findLast((line) => EXCEPTION_LINE.test(line));
  const known = exception === undefined ? undefined : knownException(exception);
  if (known !== undefined) return { cellIndex, reason: known, details: [] };
  // Something else went wrong (no kernel, a broken install): show the end of
  // nbconvert's log, which ends with the Python exception.
  const reason = exception ?? `nbconvert failed: ${lines.at(-1) ?? "no message"}`;
  const log = lines.filter((line) => !CELL_MARKER.test(line)).slice(-12);
  return { cellIndex, reason, details: log };
}

/** A plain-words reason for the exceptions a lesson itself can cause. */
function knownException(line: string): string | undefined {
  const [, name, message] = line.match(EXCEPTION_LINE)!;
  if (name === "CellTimeoutError") {
    const seconds = message.match(/after (\d+) seconds/)?.[1];
    return `timed out${
      seconds ? ` after ${seconds} s` : ""
    } (raise the limit with --timeout=SECONDS)`;
  }
  if (name === "DeadKernelError") {
    return "the Deno kernel died (did the cell call Deno.exit(), or crash the runtime?)";
  }
  return undefined;
}

/** Exports `notebookPath` to `<outputDir>/<name>.html`; returns an error message or undefined. */
export async function exportHtml(
  notebookPath: string,
  outputDir: string,
  name: string,
  run: RunCommand = runCommand,
): Promise<string | undefined> {
  const args = ["nbconvert", "--to=html", `--output-dir=${outputDir}`, `--output=${name}`];
  const result = await run("jupyter", [...args, notebookPath]);
  if (result.success) return undefined;
  const lines = result.stderr.trim().split("\n");
  return `HTML export failed: ${lines.at(-1) || `exit code ${result.code}`}`;
}
