/**
 * Where a dataset came from: measured on a machine, quoted from a thread, or
 * produced by the simulator. Every dataset file carries one of these beside
 * its rows, so that a figure in a lesson can always say what it is.
 *
 * @module
 */
import { z } from "zod";

/** ISO 8601: a date (2025-11-21) or a date and time (2025-11-21T14:13:00Z). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 date or date-time string that names a real date. */
export const IsoDate = z.string().refine(
  (text) => ISO_DATE.test(text) && !Number.isNaN(Date.parse(text)),
  { message: "expected an ISO 8601 date such as 2025-11-21 or 2025-11-21T14:13:00Z" },
);

/** A seed file name in ../shared/seeds/, e.g. "003_04fde8f735f91402.txt". */
export const SEED_FILE = /^\d{3}_[0-9a-f]{16}\.txt$/;

/** The host a measurement ran on, as the benchmark's host probe saw it. */
export const Machine = z.strictObject({
  cpu: z.string().nullable().describe("CPU model name from /proc/cpuinfo; null if unreadable"),
  cores: z.int().positive().nullable().describe("logical CPUs (count); null if unknown"),
  memoryBytes: z.int().positive().nullable().describe(
    "MemTotal from /proc/meminfo, in bytes; null if unreadable",
  ),
  kernel: z.string().nullable().describe("kernel release, as `uname -r` prints it"),
  thp: z.record(z.string(), z.string()).nullable().describe(
    "transparent hugepage knobs: path under /sys/kernel/mm/transparent_hugepage/ → its " +
      'contents (e.g. enabled → "always [madvise] never"); null without THP',
  ),
}).describe("the machine the data was measured on");

/** Measured on a real machine by a script in this repository. */
export const MeasuredProvenance = z.strictObject({
  kind: z.literal("measured"),
  script: z.string().min(1).describe(
    "the script that measured it, relative to the repository root",
  ),
  command: z.string().min(1).describe("the command that regenerates it, e.g. `deno task bench`"),
  date: IsoDate.describe("when the run started (ISO 8601)"),
  machine: Machine,
  runtime: z.strictObject({
    deno: z.string().describe("Deno version (Deno.version.deno)"),
    v8: z.string().describe("V8 version (Deno.version.v8)"),
  }).describe("the runtime that ran the script"),
  notes: z.string().optional().describe("setup, method and caveats, in prose"),
});

/** A figure quoted from a mailing-list thread in ../shared/seeds/. */
export const QuotedProvenance = z.strictObject({
  kind: z.literal("quoted"),
  seed: z.string().regex(SEED_FILE, {
    message: "expected a seed file name such as 003_04fde8f735f91402.txt",
  }).describe("the seed file (in ../shared/seeds/) that holds the message quoted"),
  context: z.string().min(1).describe("what was being measured or argued, in a sentence"),
  quote: z.string().min(1).describe("the figure's sentence, verbatim from the message"),
  author: z.string().min(1).describe("who wrote the message"),
  date: IsoDate.describe("the message's date (ISO 8601)"),
});

/** Produced by running the simulator. */
export const SimulatedProvenance = z.strictObject({
  kind: z.literal("simulated"),
  script: z.string().min(1).describe(
    "the script that ran the simulation, relative to the repository root",
  ),
  command: z.string().min(1).describe("the command that regenerates it"),
  date: IsoDate.describe("when it was generated (ISO 8601)"),
  kernelModel: z.string().min(1).describe(
    "the simulated kernel: release, architecture, variant and config that differ from the defaults",
  ),
  notes: z.string().optional().describe("setup, method and caveats, in prose"),
});

/** Any provenance, told apart by `kind`. */
export const Provenance = z.discriminatedUnion("kind", [
  MeasuredProvenance,
  QuotedProvenance,
  SimulatedProvenance,
]);

export type Machine = z.infer<typeof Machine>;
export type MeasuredProvenance = z.infer<typeof MeasuredProvenance>;
export type QuotedProvenance = z.infer<typeof QuotedProvenance>;
export type SimulatedProvenance = z.infer<typeof SimulatedProvenance>;
export type Provenance = z.infer<typeof Provenance>;
