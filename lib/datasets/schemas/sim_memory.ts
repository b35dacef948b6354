/**
 * datasets/sim_memory.json: what the simulator's memory costs per resident
 * page, measured by `deno task bench` (bench/sim_memory.ts) in a fresh child
 * process per size, after a forced GC.
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One size: N simulated pages made resident by writing a byte to each. */
export const SimMemoryRow = z.strictObject({
  residentPages: z.int().positive().describe(
    "simulated 4 KiB pages made resident (written once each), a count",
  ),
  heapBytes: z.int().nonnegative().describe(
    "V8 memory after the writes, in bytes: heapUsed + external (external includes " +
      "ArrayBuffer backing stores); includes the fixed cost of simulate()/spawn()/mmap()",
  ),
  bytesPerPage: z.number().describe(
    "growth of heapUsed + external over the writes divided by residentPages, in bytes per page",
  ),
  seconds: z.number().nonnegative().describe("wall time of the write loop, in seconds"),
});

export type SimMemoryRow = z.infer<typeof SimMemoryRow>;

export const SimMemory = datasetSchema(
  MeasuredProvenance,
  SimMemoryRow,
  "V8 heap per resident simulated page",
);

export type SimMemory = z.infer<typeof SimMemory>;
