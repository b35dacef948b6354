/**
 * datasets/faults_sim_vs_kernel.json: anonymous write-fault throughput of
 * the simulator and of the real kernel, measured by `deno task bench`
 * (bench/faults.ts).
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One measured repetition of the touch loop on one system. */
export const FaultsRow = z.strictObject({
  system: z.enum(["simulator", "kernel"]).describe(
    "what took the faults: the mm-lab simulator, or the host's Linux kernel",
  ),
  pages: z.int().positive().describe(
    "4 KiB pages of a fresh private anonymous mapping written once each (one fault per page)",
  ),
  seconds: z.number().positive().describe("wall time of the touch loop, in seconds"),
  faultsPerSecond: z.number().positive().describe("pages / seconds, in faults per second"),
  repetition: z.int().positive().describe(
    "which measured repetition (from 1); the warm-up run is not recorded",
  ),
});

export type FaultsRow = z.infer<typeof FaultsRow>;

export const FaultsSimVsKernel = datasetSchema(
  MeasuredProvenance,
  FaultsRow,
  "4 KiB anonymous write faults per second, simulator vs kernel",
);

export type FaultsSimVsKernel = z.infer<typeof FaultsSimVsKernel>;
