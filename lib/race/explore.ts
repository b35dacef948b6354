/**
 * The interleaving explorer: every order in which the threads of a scenario
 * can run their steps, each execution checked after every step.
 *
 * The search is breadth first, so the first failure found is a shortest
 * one. Executions cannot be cloned (a generator's position cannot be
 * copied), so each state is reached again by re-running `setup()` and the
 * schedule that led to it. Two reductions keep the search small:
 *
 *  - state hashing: states with the same key (the scenario's state, each
 *    thread's position and pending step, the lock holders) are explored
 *    once;
 *  - sleep sets (Godefroid, "Partial-Order Methods for the Verification of
 *    Concurrent Systems", 1996, ch. 5): after exploring thread t from a
 *    state, the siblings explored later do not run t again while they only
 *    do steps independent of t's (see `dependent()`), since both orders end
 *    in the same state. A state reached again with a smaller sleep set is
 *    explored again for the threads that were asleep. Sleep sets skip
 *    transitions, never states, so every reachable state is still checked.
 *
 * The `naive` mode does neither: a depth-first walk of the tree of all
 * executions, for lessons that plot what the reductions save.
 *
 * A bound on steps, states or time ends the search with an explicit
 * "incomplete" verdict; time is the only input that makes a verdict depend
 * on the machine.
 *
 * @module
 */
import {
  Execution,
  type Failure,
  type RaceScenario,
  type ScenarioLike,
  toScenario,
  type TraceStep,
} from "./run.ts";
import { dependent, type Step } from "./step.ts";
import { $display, inJupyter, type MediaBundle } from "../plot/display.ts";
import { escapeXml } from "../plot/_svg.ts";
import { timelineSvg } from "./timeline.ts";

/** A failing execution, replayable with `replay()`. */
export interface Trace<S = unknown> {
  /** The scenario it ran (what `replay()` runs again). */
  scenario: RaceScenario<S>;
  /** Thread names, in lane order. */
  threads: readonly string[];
  /** The thread that ran at each step. */
  schedule: readonly string[];
  /** The steps done, the failing one last. */
  steps: readonly TraceStep[];
  /** What went wrong after the last step. */
  failure: Failure;
}

/** How much was explored. */
export interface ExploreStats {
  /** Complete executions covered: paths from the start to a final state
   * through the transitions explored (0 when a counterexample stopped the
   * search). With sleep sets, each stands for a class of executions that
   * differ only in the order of independent steps. */
  interleavings: number;
  /** States visited (distinct keys; tree nodes in naive mode), the initial one included. */
  states: number;
  /** Steps executed from a visited state (edges of the search). */
  transitions: number;
  /** Longest execution seen, in steps. */
  depth: number;
  /** Milliseconds spent. */
  elapsedMs: number;
}

/** Every execution passed the checks. */
export interface SafeResult extends ExploreStats {
  /** Always "safe". */
  verdict: "safe";
  /** "all 6 interleavings safe (9 states)". */
  message: string;
}

/** A shortest failing execution. */
export interface CounterexampleResult<S = unknown> extends ExploreStats {
  /** Always "counterexample". */
  verdict: "counterexample";
  /** The failing execution, for `replay()` and `timelineSvg()`. */
  trace: Trace<S>;
  /** "counterexample in 4 steps: VM_BUG_ON: …". */
  message: string;
}

/** A bound stopped the search before it could decide. */
export interface IncompleteResult {
  /** Always "incomplete". */
  verdict: "incomplete";
  /** Which bound: "steps", "states" or "time". */
  reason: "steps" | "states" | "time";
  /** What was explored before the bound hit. */
  explored: ExploreStats;
  /** "incomplete: stopped after 1000 states; no failure in 1001 states seen". */
  message: string;
}

/** What {@linkcode explore} returns. */
export type ExploreResult<S = unknown> = SafeResult | CounterexampleResult<S> | IncompleteResult;

/** Progress of a long search. */
export interface ExploreProgress {
  /** States visited so far. */
  states: number;
  /** Transitions executed so far. */
  transitions: number;
  /** Depth of the states being expanded. */
  depth: number;
  /** States waiting to be expanded. */
  queued: number;
  /** Milliseconds since the search started. */
  elapsedMs: number;
}

/** Options of {@linkcode explore}. */
export interface ExploreOptions {
  /** No state hashing and no reduction: walk every interleaving. */
  naive?: boolean;
  /** Sleep sets (default true; ignored in naive mode). */
  reduction?: boolean;
  /** Do not run executions longer than this many steps. */
  maxSteps?: number;
  /** Stop after visiting this many states. */
  maxStates?: number;
  /** Stop after this many milliseconds. */
  timeoutMs?: number;
  /** Called every `progressEvery` states and once at the end. */
  onProgress?: (progress: ExploreProgress) => void;
  /** States between two `onProgress` calls (default 10 000). */
  progressEvery?: number;
  /**
   * Print a progress line every `printEveryMs` (default 2 000) while the
   * search runs: "auto" (the default) prints inside a Jupyter kernel only.
   */
  print?: boolean | "auto";
  /** Milliseconds between two printed lines. */
  printEveryMs?: number;
}

/** Run every interleaving of `scenario` and check each; see the module doc. */
export function explore<S>(
  scenario: ScenarioLike<S>,
  options: ExploreOptions = {},
): ExploreResult<S> {
  const s = toScenario(scenario);
  const search = new Search(s, options);
  return displayable(options.naive ? search.naive() : search.bfs());
}

/**
 * Give a result a (non-enumerable) display method, so that a notebook cell
 * ending in `explore(…)` shows the verdict, and for a counterexample its
 * timeline.
 */
function displayable<R extends ExploreResult>(result: R): R {
  Object.defineProperty(result, $display, {
    enumerable: false,
    value: (): MediaBundle => {
      if (result.verdict !== "counterexample") {
        return { "text/plain": result.message, "text/html": `<p>${escapeXml(result.message)}</p>` };
      }
      const figure = timelineSvg(result.trace);
      return {
        "text/plain": `${result.message}\n${figure.text}`,
        "text/html": `<p>${escapeXml(result.message)}</p>${figure.svg}`,
      };
    },
  });
  return result;
}

class Bound extends Error {
  constructor(readonly reason: IncompleteResult["reason"]) {
    super(reason);
  }
}

/** A state of the breadth-first search. */
interface Node {
  /** Thread indexes from the initial state. */
  path: number[];
  /** Threads not to run from here (their step commutes with one done already). */
  sleep: Set<number>;
  /** Keys of the successors explored. */
  next: Set<string>;
  final: boolean;
}

class Search<S> {
  readonly #scenario: RaceScenario<S>;
  readonly #options: ExploreOptions;
  readonly #start = performance.now();
  readonly #print: boolean;
  #lastPrint = 0;
  #states = 0;
  #transitions = 0;
  #depth = 0;
  #queued = 0;
  #truncated = false;
  #nextProgress = 0;

  constructor(scenario: RaceScenario<S>, options: ExploreOptions) {
    this.#scenario = scenario;
    this.#options = options;
    for (const key of ["maxSteps", "maxStates", "timeoutMs", "progressEvery"] as const) {
      const v = options[key];
      if (v !== undefined && !(v >= 0)) {
        throw new RangeError(`explore(): ${key} must be a non-negative number, got ${v}`);
      }
    }
    this.#print = options.print === "auto" || options.print === undefined
      ? inJupyter()
      : options.print;
    this.#lastPrint = this.#start;
  }

  /** Breadth first over distinct states, with sleep sets. */
  bfs(): ExploreResult<S> {
    const reduce = this.#options.reduction ?? true;
    const root = new Execution(this.#scenario);
    this.#states = 1;
    if (root.failure) return this.#counterexample(root);
    const nodes = new Map<string, Node>();
    const rootKey = root.key();
    nodes.set(rootKey, { path: [], sleep: new Set(), next: new Set(), final: root.finished });
    const queue: { key: string; only?: Set<number> }[] = [{ key: rootKey }];
    try {
      for (let head = 0; head < queue.length; head++) {
        this.#queued = queue.length - head;
        const { key, only } = queue[head];
        const node = nodes.get(key)!;
        this.#tick(node.path.length);
        // A final state has no successor: no need to run its schedule again.
        if (node.final) continue;
        const here = Execution.replay(this.#scenario, node.path);
        const enabled = here.enabledThreads();
        const steps = here.pending.slice();
        const done: number[] = reduce ? [...node.sleep].filter((t) => enabled.includes(t)) : [];
        const todo = enabled.filter((t) =>
          !node.sleep.has(t) && (only === undefined || only.has(t))
        );
        for (const t of todo) {
          // The last one goes on from `here`; the others start again.
          const run = t === todo.at(-1) ? here : Execution.replay(this.#scenario, node.path);
          run.exec(t);
          this.#transitions++;
          if (run.failure) return this.#counterexample(run);
          const childKey = run.key();
          node.next.add(childKey);
          const sleep = new Set(
            reduce ? done.filter((u) => !dependent(steps[u] as Step, steps[t] as Step)) : [],
          );
          done.push(t);
          const child = nodes.get(childKey);
          if (child === undefined) {
            const path = [...node.path, t];
            nodes.set(childKey, { path, sleep, next: new Set(), final: run.finished });
            this.#states = nodes.size;
            this.#depth = Math.max(this.#depth, path.length);
            if (this.#options.maxStates !== undefined && nodes.size > this.#options.maxStates) {
              throw new Bound("states");
            }
            if (this.#options.maxSteps !== undefined && path.length >= this.#options.maxSteps) {
              if (!run.finished) this.#truncated = true;
              continue;
            }
            queue.push({ key: childKey });
          } else if ([...child.sleep].some((u) => !sleep.has(u))) {
            const woken = new Set([...child.sleep].filter((u) => !sleep.has(u)));
            child.sleep = new Set([...child.sleep].filter((u) => sleep.has(u)));
            queue.push({ key: childKey, only: woken });
          }
        }
      }
    } catch (e) {
      if (e instanceof Bound) return this.#incomplete(e.reason, countPaths(nodes, rootKey));
      throw e;
    }
    const interleavings = countPaths(nodes, rootKey);
    if (this.#truncated) return this.#incomplete("steps", interleavings);
    return this.#safe(interleavings);
  }

  /** Depth first over the tree of all executions, keeping the shortest failure. */
  naive(): ExploreResult<S> {
    const root = new Execution(this.#scenario);
    this.#states = 1;
    if (root.failure) return this.#counterexample(root);
    let best: Execution<S> | undefined;
    let interleavings = 0;
    const walk = (here: Execution<S>, path: number[]): void => {
      this.#tick(path.length);
      if (here.finished) {
        interleavings++;
        return;
      }
      if (best !== undefined && path.length + 1 >= best.steps.length) return;
      if (this.#options.maxSteps !== undefined && path.length >= this.#options.maxSteps) {
        this.#truncated = true;
        return;
      }
      const enabled = here.enabledThreads();
      enabled.forEach((t, n) => {
        const run = n === enabled.length - 1 ? here : Execution.replay(this.#scenario, path);
        run.exec(t);
        this.#transitions++;
        this.#states++;
        this.#depth = Math.max(this.#depth, path.length + 1);
        if (this.#options.maxStates !== undefined && this.#states > this.#options.maxStates) {
          throw new Bound("states");
        }
        if (run.failure) {
          if (best === undefined || run.steps.length < best.steps.length) best = run;
          return;
        }
        walk(run, [...path, t]);
      });
    };
    try {
      walk(root, []);
    } catch (e) {
      if (e instanceof Bound) return this.#incomplete(e.reason, interleavings);
      throw e;
    }
    if (best !== undefined) return this.#counterexample(best);
    if (this.#truncated) return this.#incomplete("steps", interleavings);
    return this.#safe(interleavings);
  }

  #tick(depth: number): void {
    const now = performance.now();
    const o = this.#options;
    if (o.timeoutMs !== undefined && now - this.#start > o.timeoutMs) throw new Bound("time");
    if (o.onProgress && this.#states >= this.#nextProgress) {
      this.#nextProgress = this.#states + Math.max(1, o.progressEvery ?? 10_000);
      o.onProgress(this.#progress(depth));
    }
    if (this.#print && now - this.#lastPrint >= (o.printEveryMs ?? 2_000)) {
      this.#lastPrint = now;
      const p = this.#progress(depth);
      console.log(
        `explore: ${p.states} states, ${p.transitions} transitions, depth ${p.depth}, ${p.queued} queued, ${
          (p.elapsedMs / 1000).toFixed(1)
        } s`,
      );
    }
  }

  #progress(depth: number): ExploreProgress {
    return {
      states: this.#states,
      transitions: this.#transitions,
      depth,
      queued: this.#queued,
      elapsedMs: performance.now() - this.#start,
    };
  }

  #stats(interleavings: number): ExploreStats {
    this.#options.onProgress?.(this.#progress(this.#depth));
    return {
      interleavings,
      states: this.#states,
      transitions: this.#transitions,
      depth: this.#depth,
      elapsedMs: performance.now() - this.#start,
    };
  }

  #name(): string {
    return this.#scenario.name ? `${this.#scenario.name}: ` : "";
  }

  #safe(interleavings: number): SafeResult {
    const stats = this.#stats(interleavings);
    return {
      verdict: "safe",
      ...stats,
      message:
        `${this.#name()}all ${stats.interleavings} interleavings safe (${stats.states} states)`,
    };
  }

  #incomplete(reason: IncompleteResult["reason"], interleavings: number): IncompleteResult {
    const explored = this.#stats(interleavings);
    const bound = reason === "steps"
      ? `executions longer than ${this.#options.maxSteps} steps were cut`
      : reason === "states"
      ? `stopped after ${this.#options.maxStates} states`
      : `stopped after ${this.#options.timeoutMs} ms`;
    return {
      verdict: "incomplete",
      reason,
      explored,
      message: `${this.#name()}incomplete: ${bound}; no failure in ${explored.states} states seen`,
    };
  }

  #counterexample(run: Execution<S>): CounterexampleResult<S> {
    const failure = run.failure!;
    const trace: Trace<S> = {
      scenario: this.#scenario,
      threads: run.names,
      schedule: run.steps.map((s) => s.thread),
      steps: run.steps.slice(),
      failure,
    };
    return {
      verdict: "counterexample",
      ...this.#stats(0),
      trace,
      message: `${this.#name()}counterexample in ${trace.steps.length} steps: ${failure.message}`,
    };
  }
}

/** Paths from `root` to a final state over the explored transitions. */
function countPaths(nodes: Map<string, Node>, root: string): number {
  const memo = new Map<string, number>();
  // States are levelled by depth (every step advances one thread), so
  // visiting deepest first sees every successor before its predecessors.
  const order = [...nodes.keys()].sort((a, b) =>
    nodes.get(b)!.path.length - nodes.get(a)!.path.length
  );
  for (const key of order) {
    const node = nodes.get(key)!;
    let n = node.final ? 1 : 0;
    for (const k of node.next) n += memo.get(k) ?? 0;
    memo.set(key, n);
  }
  return memo.get(root) ?? 0;
}
