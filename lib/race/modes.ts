/**
 * The same scenario under each search mode, side by side: what state
 * hashing and sleep sets save over the naive walk. A lesson plots the rows
 * (states or interleavings per mode) or shows them as a table.
 *
 * @module
 */
import { $display, type Displayable, type MediaBundle } from "../plot/display.ts";
import { escapeXml } from "../plot/_svg.ts";
import { textTable } from "../plot/_text_table.ts";
import { explore, type ExploreOptions, type ExploreResult } from "./explore.ts";
import { type ScenarioLike, toScenario } from "./run.ts";

/** The search modes, from none to both reductions. */
export const SEARCH_MODES = [
  { mode: "naive", options: { naive: true } },
  { mode: "state hashing", options: { reduction: false } },
  { mode: "state hashing + sleep sets", options: {} },
] as const satisfies readonly { mode: string; options: ExploreOptions }[];

/** One mode's outcome. */
export interface ModeRow {
  /** "naive", "state hashing" or "state hashing + sleep sets". */
  mode: (typeof SEARCH_MODES)[number]["mode"];
  /** The verdict reached. */
  verdict: ExploreResult["verdict"];
  /** Complete executions covered. */
  interleavings: number;
  /** States visited. */
  states: number;
  /** Transitions executed. */
  transitions: number;
  /** Length of the counterexample, when there is one. */
  counterexample: number | null;
}

const COLUMNS = ["mode", "verdict", "interleavings", "states", "transitions"];

/** A row's cells, in the order of {@link COLUMNS}. */
function cells(r: ModeRow): string[] {
  return [
    r.mode,
    r.counterexample === null ? r.verdict : `${r.verdict} (${r.counterexample} steps)`,
    String(r.interleavings),
    String(r.states),
    String(r.transitions),
  ];
}

/** Rows of {@linkcode exploreModes}, displayed as a table. */
export class ModeTable implements Displayable {
  /** Build the table of `rows` for the scenario named `name`. */
  constructor(readonly name: string, readonly rows: readonly ModeRow[]) {}

  /** The plain-text table. */
  get text(): string {
    return `${this.name}\n${textTable(COLUMNS, this.rows.map(cells))}`;
  }

  /** A notebook shows the table. */
  [$display](): MediaBundle {
    const head = COLUMNS.map((c) => `<th>${c}</th>`).join("");
    const rows = this.rows.map((r) =>
      `<tr>${cells(r).map((c) => `<td>${escapeXml(c)}</td>`).join("")}</tr>`
    ).join("");
    return {
      "text/plain": this.text,
      "text/html": `<table><caption>${
        escapeXml(this.name)
      }</caption><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`,
    };
  }
}

/**
 * Explore `scenario` in each of {@linkcode SEARCH_MODES} with the same
 * bounds (`options`' mode settings are overridden).
 */
export function exploreModes<S>(
  scenario: ScenarioLike<S>,
  options: Omit<ExploreOptions, "naive" | "reduction"> = {},
): ModeTable {
  const s = toScenario(scenario);
  const rows = SEARCH_MODES.map(({ mode, options: modeOptions }): ModeRow => {
    const r = explore(s, { ...options, ...modeOptions });
    const stats = r.verdict === "incomplete" ? r.explored : r;
    return {
      mode,
      verdict: r.verdict,
      interleavings: stats.interleavings,
      states: stats.states,
      transitions: stats.transitions,
      counterexample: r.verdict === "counterexample" ? r.trace.steps.length : null,
    };
  });
  return new ModeTable(s.name ?? "race", rows);
}
