/**
 * Replaying a counterexample: the same scenario, run again from `setup()`
 * under the trace's schedule, one step at a time, so that a notebook can
 * stop after any step and look at the state.
 *
 * @module
 */
import { $display, type Displayable, type MediaBundle } from "../plot/display.ts";
import type { Figure } from "../plot/figure.ts";
import type { Trace } from "./explore.ts";
import { Execution, type Failure, type TraceStep } from "./run.ts";
import { timelineSvg } from "./timeline.ts";

/** A trace being replayed. */
export class Replay<S = unknown> implements Iterable<TraceStep>, Displayable {
  /** The trace replayed. */
  readonly trace: Trace<S>;
  readonly #run: Execution<S>;
  readonly #schedule: number[];

  /** Set the trace's scenario up again, ready for the first step. */
  constructor(trace: Trace<S>) {
    this.trace = trace;
    this.#run = new Execution(trace.scenario);
    const names = this.#run.names;
    this.#schedule = trace.schedule.map((name) => {
      const i = names.indexOf(name);
      if (i < 0) {
        throw new RangeError(
          `Trace names thread "${name}", which the scenario does not have (${names.join(", ")})`,
        );
      }
      return i;
    });
  }

  /** The scenario's state after the steps done so far. */
  get state(): S {
    return this.#run.state;
  }

  /** The steps done so far. */
  get steps(): readonly TraceStep[] {
    return this.#run.steps;
  }

  /** How many steps have been done. */
  get position(): number {
    return this.#run.steps.length;
  }

  /** True once every step of the trace has been done. */
  get done(): boolean {
    return this.position >= this.#schedule.length;
  }

  /** The failure, once the replay has reached it. */
  get failure(): Failure | null {
    return this.#run.failure;
  }

  /** Do the next step of the trace and return it (undefined at the end). */
  step(): TraceStep | undefined {
    if (this.done) return undefined;
    this.#run.replayStep(this.#schedule[this.position]);
    return this.#run.steps.at(-1);
  }

  /** Do the remaining steps; returns the failure reached (null if none). */
  run(): Failure | null {
    while (this.step() !== undefined);
    return this.failure;
  }

  /** The timeline of the steps done so far (the failure once reached). */
  timeline(): Figure {
    return timelineSvg(this.trace, { upTo: this.position });
  }

  /** A notebook shows where the replay is: the last step and the timeline so far. */
  [$display](): MediaBundle {
    const figure = this.timeline();
    const last = this.steps.at(-1);
    const where = `step ${this.position} of ${this.trace.steps.length}${
      last === undefined ? "" : `: ${last.thread} ${last.label}`
    }`;
    return { "text/plain": `${where}\n${figure.text}`, "text/html": figure.svg };
  }

  /** Steps through the rest of the trace. */
  *[Symbol.iterator](): Iterator<TraceStep> {
    for (let s = this.step(); s !== undefined; s = this.step()) yield s;
  }
}

/** Start replaying `trace` from the scenario's initial state. */
export function replay<S>(trace: Trace<S>): Replay<S> {
  return new Replay(trace);
}
