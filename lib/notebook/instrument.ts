/**
 * Instrumenting a lesson so that what the Deno kernel swallows still fails it.
 *
 * The Deno kernel drops unhandled promise rejections and exceptions thrown in
 * callbacks (timers, microtasks) without a trace. The runner executes a
 * working copy of the lesson with injected cells:
 *
 *   guard cell         registers "unhandledrejection" and "error" listeners
 *                      that record what happened
 *   lesson cell i
 *   check cell (i)     waits one timer tick, then throws if anything was
 *                      recorded, naming lesson cell i
 *   lesson cell i+1 …
 *
 * Afterwards {@link uninstrument} removes the injected cells, moves a check
 * cell's error onto the lesson cell it checked, and renumbers execution
 * counts, so the executed copy looks like the lesson.
 * @module
 */
import { type Cell, firstLine, isRunnable, type Notebook } from "./ipynb.ts";

/** Cell metadata key that marks injected cells. */
export const INJECTED_KEY = "mm-lab";

/** What an injected cell is: the guard, or the check after lesson cell `after`. */
export type Injected = { injected: "guard" } | { injected: "check"; after: number };

/** Name of the error a check cell throws. */
export const UNHANDLED_ERROR_NAME = "Unhandled";

// The injected cells share their record through a registered symbol, so that
// no lesson variable can collide with it.
const RECORD =
  `(globalThis as unknown as Record<symbol, string[]>)[Symbol.for("mm-lab.unhandled")]`;

const GUARD_SOURCE = `// mm-lab lesson runner: record what the Deno kernel would swallow.
{
  const found: string[] = [];
  ${RECORD} = found;
  const describe = (value: unknown) =>
    value instanceof Error ? String(value.stack ?? value) : Deno.inspect(value);
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    found.push(\`unhandled promise rejection: \${describe(event.reason)}\`);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    found.push(\`uncaught exception: \${describe(event.error)}\`);
  });
}`;

/** Source of the check cell run after lesson cell `index` (0-based). */
export function checkSource(index: number, cell: Cell): string {
  const label = JSON.stringify(`cell ${index + 1} (${firstLine(cell)})`);
  return `// mm-lab lesson runner: did ${label} leave anything unhandled?
await new Promise((resolve) => setTimeout(resolve, 1));
{
  const found = ${RECORD}.splice(0);
  if (found.length > 0) {
    const error = new Error(found.join("\\n") + "\\n(found after " + ${label} + ")");
    error.name = ${JSON.stringify(UNHANDLED_ERROR_NAME)};
    throw error;
  }
}`;
}

function injectedCell(source: string, marker: Injected): Cell {
  return {
    cell_type: "code",
    id: crypto.randomUUID(),
    source,
    metadata: { [INJECTED_KEY]: marker },
    outputs: [],
    execution_count: null,
  };
}

/** The injected-cell marker of `cell`, if it is one. */
export function injectedMarker(cell: Cell): Injected | undefined {
  return cell.metadata[INJECTED_KEY] as Injected | undefined;
}

/** A working copy of `nb` with the guard cell and a check after every code cell. */
export function instrument(nb: Notebook): Notebook {
  const cells: Cell[] = [injectedCell(GUARD_SOURCE, { injected: "guard" })];
  nb.cells.forEach((cell, index) => {
    cells.push(structuredClone(cell));
    if (isRunnable(cell)) {
      cells.push(injectedCell(checkSource(index, cell), { injected: "check", after: index }));
    }
  });
  return { ...structuredClone(nb), cells };
}

/**
 * The lesson cell (0-based) that cell `index` of an instrumented notebook
 * stands for: itself, or the lesson cell a check cell checked. Undefined for
 * the guard cell.
 */
export function lessonCellIndex(instrumented: Notebook, index: number): number | undefined {
  const marker = injectedMarker(instrumented.cells[index]);
  if (marker?.injected === "guard") return undefined;
  if (marker?.injected === "check") return marker.after;
  return instrumented.cells.slice(0, index).filter((cell) => !injectedMarker(cell)).length;
}

/** The executed lesson without the injected cells; see the module comment. */
export function uninstrument(executed: Notebook): Notebook {
  const cells: Cell[] = [];
  for (const cell of structuredClone(executed.cells)) {
    const marker = injectedMarker(cell);
    if (marker === undefined) {
      cells.push(cell);
    } else if (marker.injected === "check" && cell.outputs?.length) {
      const checked = cells[marker.after];
      checked.outputs = [...(checked.outputs ?? []), ...cell.outputs];
    }
  }
  renumberExecutions(cells);
  return { ...structuredClone(executed), cells };
}

/** Numbers executed code cells 1, 2, 3 … as if only the lesson had run. */
function renumberExecutions(cells: Cell[]): void {
  let count = 0;
  for (const cell of cells) {
    if (cell.cell_type !== "code" || cell.execution_count == null) continue;
    cell.execution_count = ++count;
    for (const output of cell.outputs ?? []) {
      if (output.output_type === "execute_result") output.execution_count = count;
    }
  }
}
