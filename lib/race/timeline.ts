/**
 * The timeline of an execution: one lane per thread, time running to the
 * right, each step a box labelled with its op (`spin_lock(ptl)`,
 * `write pte[3]`), each lock hold a bar under the holder's lane, and the
 * failure in red: the step that broke an invariant, the lock attempts stuck
 * in a deadlock, or a lock left held.
 *
 * @module
 */
import { charWidth, el, escapeXml, svgRoot, text } from "../plot/_svg.ts";
import { textTable } from "../plot/_text_table.ts";
import { Figure } from "../plot/figure.ts";
import type { Trace } from "./explore.ts";
import type { Failure, TraceStep } from "./run.ts";
import { isAcquire, isRelease } from "./step.ts";

/** Options of {@linkcode timelineSvg} and {@linkcode timelineText}. */
export interface TimelineOptions {
  /** Heading (default: the scenario's name and the failure kind). */
  title?: string;
  /** Draw only the first `upTo` steps (a replay in progress); the failure
   * shows once every step is drawn. */
  upTo?: number;
}

/** What a timeline draws: the trace's steps, or the first `upTo` of them. */
interface View {
  threads: readonly string[];
  steps: readonly TraceStep[];
  failure: Failure | null;
}

function view(trace: Trace, options: TimelineOptions): View {
  const upTo = options.upTo ?? trace.steps.length;
  if (!Number.isInteger(upTo) || upTo < 0 || upTo > trace.steps.length) {
    throw new RangeError(
      `upTo must be an integer from 0 to ${trace.steps.length} (the trace's steps), got ${upTo}`,
    );
  }
  return {
    threads: trace.threads,
    steps: trace.steps.slice(0, upTo),
    failure: upTo === trace.steps.length ? trace.failure : null,
  };
}

/** A lock hold: from the step that took the lock to the one that released it. */
interface Hold {
  thread: string;
  lock: string;
  from: number;
  /** Index of the releasing step, or null when still held at the end. */
  to: number | null;
  /** Row under the lane, for holds that overlap in one thread. */
  row: number;
}

function holds(v: View): Hold[] {
  const out: Hold[] = [];
  const open = new Map<string, Hold>();
  for (const s of v.steps) {
    if (s.lock === undefined) continue;
    const key = `${s.thread}\u0000${s.lock}`;
    if (isAcquire(s)) {
      const rows = new Set(
        [...open.values()].filter((h) => h.thread === s.thread).map((h) => h.row),
      );
      let row = 0;
      while (rows.has(row)) row++;
      const h: Hold = { thread: s.thread, lock: s.lock, from: s.index, to: null, row };
      open.set(key, h);
      out.push(h);
    } else if (isRelease(s)) {
      const h = open.get(key);
      if (h !== undefined) {
        h.to = s.index;
        open.delete(key);
      }
    }
  }
  return out;
}

/** The failure's line: "✗ deadlock (…): …". */
function failureLine(f: Failure): string {
  return `✗ ${f.message}`;
}

/** One row per step, one column per thread; the failure under the table. */
export function timelineText(trace: Trace, options: TimelineOptions = {}): string {
  const v = view(trace, options);
  const failing = v.failure?.kind === "bug" ? v.failure.step : -1;
  const rows = v.steps.map((s) => [
    String(s.index + 1),
    ...v.threads.map((t) => t === s.thread ? `${s.label}${s.index === failing ? " ✗" : ""}` : ""),
  ]);
  if (v.failure?.kind === "deadlock") {
    const blocked = v.failure.blocked ?? [];
    rows.push([
      "stuck",
      ...v.threads.map((t) => {
        const b = blocked.find((x) => x.thread === t);
        return b === undefined ? "" : `${b.label} ✗`;
      }),
    ]);
  }
  const lines = [textTable(["step", ...v.threads], rows)];
  if (v.failure !== null) lines.push(failureLine(v.failure));
  return lines.join("\n");
}

// Layout, in pixels.
const MARGIN = 12;
const FONT = 11;
const SMALL = 9;
const HEAD = 34;
/** A lane without lock holds: the box and a margin. */
const LANE = 36;
/** Each row of lock holds under a lane: the bar and its label. */
const HOLD_ROW = 16;
const BOX = 22;
const BAR = 5;
const MIN_COL = 64;
const MAX_COL = 150;
const MIN_WIDTH = 480;
const BAD = "#e15759";
const BAD_FILL = "#fbe3e4";
const MUTED = "#777777";

const FILL: Record<string, string> = {
  lock: "#dbe6f1",
  unlock: "#dbe6f1",
  down_read: "#dbe6f1",
  up_read: "#dbe6f1",
  down_write: "#dbe6f1",
  up_write: "#dbe6f1",
  read: "#e2efdc",
  write: "#fce5cd",
  local: "#eeeeee",
};
const STROKE: Record<string, string> = {
  read: "#59a14f",
  write: "#f28e2b",
  local: "#bab0ac",
};
const LOCK_COLOR = "#4e79a7";

/** Cut `label` to `max` characters, marking the cut. */
function fit(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, Math.max(1, max - 1))}…`;
}

/**
 * Draw the execution as a timeline figure (its text form is
 * {@linkcode timelineText}).
 */
export function timelineSvg(trace: Trace, options: TimelineOptions = {}): Figure {
  const v = view(trace, options);
  const cw = charWidth(FONT);
  const stuck = v.failure?.kind === "deadlock" ? v.failure.blocked ?? [] : [];
  const labels = [...v.steps.map((s) => s.label), ...stuck.map((b) => b.label)];
  const col = Math.min(
    MAX_COL,
    Math.max(MIN_COL, Math.max(0, ...labels.map((l) => l.length)) * cw + 12),
  );
  const maxChars = Math.floor((col - 10) / cw);
  const nameWidth = Math.max(...v.threads.map((t) => t.length)) * charWidth(12) + 16;
  const x0 = MARGIN + nameWidth;
  const columns = v.steps.length + (stuck.length > 0 ? 1 : 0);

  const held = holds(v);
  const tops = [HEAD + 16];
  v.threads.forEach((t, i) => {
    const rows = Math.max(0, ...held.filter((h) => h.thread === t).map((h) => h.row + 1));
    tops.push(tops[i] + LANE + Math.max(1, rows) * HOLD_ROW);
  });
  const laneTop = (i: number) => tops[i];
  const colX = (i: number) => x0 + i * col;
  const bodyBottom = laneTop(v.threads.length);
  const name = trace.scenario.name ?? "race";
  const heading = options.title ??
    (v.failure === null
      ? `${name}: ${v.steps.length} of ${trace.steps.length} steps`
      : `${name}: ${v.failure.kind} after ${trace.steps.length} steps`);
  const width = Math.max(
    x0 + columns * col + MARGIN,
    heading.length * charWidth(12) + 2 * MARGIN,
    MIN_WIDTH,
  );
  const message = v.failure === null
    ? []
    : wrap(failureLine(v.failure), Math.floor((width - 2 * MARGIN) / cw));
  const height = bodyBottom + (message.length > 0 ? 10 + message.length * 15 : 8);
  const children: string[] = [
    text(heading, { x: MARGIN, y: 18, "font-weight": "bold", "font-size": 12 }),
  ];

  // Lanes and the step numbers.
  v.threads.forEach((t, i) => {
    const y = laneTop(i);
    children.push(
      el("line", {
        x1: x0,
        y1: y + 6 + BOX / 2,
        x2: x0 + columns * col,
        y2: y + 6 + BOX / 2,
        stroke: "#dddddd",
      }),
      text(t, { x: MARGIN, y: y + 6 + BOX / 2 + 4, "font-weight": "bold", "font-size": 12 }),
    );
  });
  for (let i = 0; i < columns; i++) {
    const label = i < v.steps.length ? String(i + 1) : "stuck";
    children.push(text(label, {
      x: colX(i) + col / 2,
      y: HEAD + 8,
      "text-anchor": "middle",
      "font-size": SMALL,
      fill: i < v.steps.length ? MUTED : BAD,
    }));
  }

  // Lock holds, under the boxes.
  const leaked = new Set(v.failure?.kind === "lock held" ? v.failure.locks ?? [] : []);
  for (const h of held) {
    const lane = v.threads.indexOf(h.thread);
    const y = laneTop(lane) + 6 + BOX + 4 + h.row * HOLD_ROW;
    const x1 = colX(h.from) + col / 2;
    const x2 = h.to === null ? colX(columns) : colX(h.to) + col / 2;
    const bad = h.to === null && leaked.has(h.lock);
    children.push(el("g", { "data-lock": h.lock, "data-thread": h.thread }, [
      `<title>${
        escapeXml(`${h.thread} holds ${h.lock}${h.to === null ? " to the end" : ""}`)
      }</title>`,
      el("rect", {
        x: x1,
        y,
        width: Math.max(2, x2 - x1),
        height: BAR,
        fill: bad ? BAD : LOCK_COLOR,
        opacity: bad ? 1 : 0.7,
      }),
      text(h.lock, {
        x: x1 + 2,
        y: y + BAR + SMALL,
        "font-size": SMALL,
        fill: bad ? BAD : LOCK_COLOR,
      }),
    ]));
  }

  // The steps.
  const failing = v.failure?.kind === "bug" ? v.failure.step : -1;
  for (const s of v.steps) {
    const lane = v.threads.indexOf(s.thread);
    const bad = s.index === failing;
    children.push(stepBox(s.label, s.op, colX(s.index), laneTop(lane), col, maxChars, bad, false));
  }
  for (const b of stuck) {
    const lane = v.threads.indexOf(b.thread);
    children.push(
      stepBox(b.label, "lock", colX(v.steps.length), laneTop(lane), col, maxChars, true, true),
    );
  }

  message.forEach((line, i) => {
    children.push(text(line, {
      x: MARGIN,
      y: bodyBottom + 18 + i * 15,
      fill: BAD,
      "font-weight": i === 0 ? "bold" : undefined,
    }));
  });
  const markup = svgRoot(width, height, children, { title: heading, fontSize: FONT });
  return new Figure(markup, { text: timelineText(trace, options) });
}

function stepBox(
  label: string,
  op: string,
  x: number,
  top: number,
  col: number,
  maxChars: number,
  bad: boolean,
  waiting: boolean,
): string {
  return el("g", { "data-op": op, ...(bad ? { "data-failed": "true" } : {}) }, [
    `<title>${escapeXml(waiting ? `${label}: waiting` : label)}</title>`,
    el("rect", {
      x: x + 3,
      y: top + 6,
      width: col - 6,
      height: BOX,
      rx: 3,
      fill: bad ? BAD_FILL : FILL[op] ?? "#eeeeee",
      stroke: bad ? BAD : STROKE[op] ?? LOCK_COLOR,
      "stroke-width": bad ? 2 : 1,
      "stroke-dasharray": waiting ? "4 2" : undefined,
    }),
    text(fit(label, maxChars), {
      x: x + col / 2,
      y: top + 6 + BOX / 2 + 4,
      "text-anchor": "middle",
      fill: bad ? BAD : "black",
    }),
  ]);
}

/** Break `line` at spaces into lines of at most `max` characters. */
function wrap(line: string, max: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of line.split(" ")) {
    if (current !== "" && current.length + 1 + word.length > max) {
      lines.push(current);
      current = word;
    } else {
      current = current === "" ? word : `${current} ${word}`;
    }
  }
  if (current !== "") lines.push(current);
  return lines.map((l) => fit(l, max));
}
