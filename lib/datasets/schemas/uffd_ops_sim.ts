/**
 * datasets/uffd_ops_sim.json: what each userfaultfd resolving ioctl costs
 * the simulator per page, by how many pages one ioctl covers, measured by
 * `deno task bench` (bench/uffd_ops.ts). Simulator time on the recorded
 * machine, not the real kernel's.
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One measured repetition of one ioctl at one batch size. */
export const UffdOpsRow = z.strictObject({
  op: z.enum(["COPY", "ZEROPAGE", "POISON", "MOVE"]).describe(
    "the ioctl: UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_POISON or UFFDIO_MOVE",
  ),
  batchPages: z.int().positive().describe(
    "4 KiB pages covered by one ioctl call (its len / PAGE_SIZE)",
  ),
  pages: z.int().positive().describe("pages resolved in the timed loop, a count"),
  seconds: z.number().positive().describe("wall time of the timed loop of ioctl calls, in seconds"),
  nsPerPage: z.number().positive().describe("seconds / pages, in nanoseconds per page"),
  repetition: z.int().positive().describe(
    "which measured repetition (from 1); the warm-up run is not recorded",
  ),
});

export type UffdOpsRow = z.infer<typeof UffdOpsRow>;

export const UffdOpsSim = datasetSchema(
  MeasuredProvenance,
  UffdOpsRow,
  "simulator cost per page of UFFDIO_COPY, ZEROPAGE, POISON and MOVE by batch size",
);

export type UffdOpsSim = z.infer<typeof UffdOpsSim>;
