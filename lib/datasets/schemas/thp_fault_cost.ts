/**
 * datasets/thp_fault_cost.json: what an anonymous write fault costs on the
 * host kernel by the size of the folio it allocates — 4 KiB, every mTHP
 * size the host offers, the 2 MiB PMD THP — and what MADV_COLLAPSE costs to
 * turn 4 KiB pages into PMD THPs, with the simulator's figure beside each
 * where the model has the path. Measured by `deno task bench`
 * (bench/thp_faults.ts), which sets the THP sysfs knobs for each size and
 * restores them afterwards.
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One timed repetition on the kernel. */
export const ThpFaultRow = z.strictObject({
  operation: z.enum(["fault", "MADV_COLLAPSE"]).describe(
    "fault: one write to each 4 KiB page of a fresh region; MADV_COLLAPSE: madvise() over a " +
      "region already faulted in with 4 KiB pages",
  ),
  folioKb: z.int().positive().describe(
    "the folio size under test in KiB: 4, an mTHP size (hugepages-<N>kB), or 2048 (PMD)",
  ),
  regionBytes: z.int().positive().describe("bytes of the region, 2 MiB-aligned, in bytes"),
  seconds: z.number().positive().describe("wall time of the write loop or the madvise call"),
  nsPer4kPage: z.number().positive().describe("seconds / (regionBytes / 4096), in nanoseconds"),
  faults: z.int().nonnegative().describe(
    "pgfault delta of /proc/vmstat over the loop (system-wide, so an upper bound)",
  ),
  allocated: z.int().nonnegative().describe(
    "folios of folioKb allocated: the size's anon_fault_alloc delta (faults), or " +
      "thp_collapse_alloc delta (MADV_COLLAPSE); 4 KiB rows count pages resident",
  ),
  fallbacks: z.int().nonnegative().describe(
    "anon_fault_fallback delta of the size (a smaller folio was used); 0 for 4 KiB and collapse",
  ),
  repetition: z.int().positive().describe("which measured repetition (from 1)"),
  modelNsPer4kPage: z.number().positive().nullable().describe(
    "the simulator's median ns per 4 KiB page for the same operation and size, where the model " +
      "has the path; null otherwise",
  ),
  modelAbsentReason: z.string().nullable().describe(
    "why the model has no figure for this row (null when modelNsPer4kPage is given)",
  ),
});

export type ThpFaultRow = z.infer<typeof ThpFaultRow>;

export const ThpFaultCost = datasetSchema(
  MeasuredProvenance,
  ThpFaultRow,
  "anonymous fault cost by folio size, and MADV_COLLAPSE, on the kernel; the model beside",
);

export type ThpFaultCost = z.infer<typeof ThpFaultCost>;
