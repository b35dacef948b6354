/**
 * datasets/uffd_ops_live.json: throughput of the userfaultfd ioctls that
 * resolve a range — UFFDIO_COPY, ZEROPAGE, CONTINUE, MOVE, POISON — by
 * how many pages one ioctl covers, on the host kernel, with the
 * simulator's cost for the same calls beside it. Measured by
 * `deno task bench` (bench/uffd_ops_live.ts).
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";
import { UffdOpsRow } from "./uffd_ops_sim.ts";

/** One timed repetition of one ioctl at one batch size on one system. */
export const UffdOpsLiveRow = UffdOpsRow.extend({
  system: z.enum(["kernel", "simulator"]).describe(
    "the host's Linux through Deno FFI, or the simulated kernel of lib/",
  ),
  op: z.enum(["COPY", "ZEROPAGE", "CONTINUE", "MOVE", "POISON"]).describe(
    "the ioctl: UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_CONTINUE, UFFDIO_MOVE or UFFDIO_POISON",
  ),
});

export type UffdOpsLiveRow = z.infer<typeof UffdOpsLiveRow>;

export const UffdOpsLive = datasetSchema(
  MeasuredProvenance,
  UffdOpsLiveRow,
  "userfaultfd resolving ioctls by batch size: the host kernel and the simulator",
);

export type UffdOpsLive = z.infer<typeof UffdOpsLive>;
