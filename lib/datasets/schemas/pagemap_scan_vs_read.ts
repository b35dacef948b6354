/**
 * datasets/pagemap_scan_vs_read.json: how long it takes to find the
 * written pages of a region with the PAGEMAP_SCAN ioctl versus reading its
 * /proc/self/pagemap entries, on sparse and dense regions of growing size,
 * on the host kernel and on the simulator. Measured by `deno task bench`
 * (bench/pagemap_scan.ts).
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One timed repetition of one method on one region. */
export const PagemapScanRow = z.strictObject({
  system: z.enum(["kernel", "simulator"]).describe(
    "the host's Linux through Deno FFI, or the simulated kernel of lib/",
  ),
  method: z.enum(["PAGEMAP_SCAN", "pagemap read"]).describe(
    "ioctl(PAGEMAP_SCAN) with category_mask PAGE_IS_PRESENT, or pread() of the region's " +
      "8-byte /proc/self/pagemap entries and a test of PM_PRESENT in each (the simulator: " +
      "p.pagemapScan() or p.pagemap() per page)",
  ),
  density: z.enum(["sparse", "dense"]).describe(
    "sparse: one written page in every 64; dense: every page written",
  ),
  pages: z.int().positive().describe("4 KiB pages in the region scanned, a count"),
  regions: z.int().nonnegative().describe(
    "runs of present pages found (page_regions returned, or runs counted in the entries)",
  ),
  seconds: z.number().positive().describe("wall time of one scan of the whole region, in seconds"),
  nsPerPage: z.number().positive().describe("seconds / pages, in nanoseconds per page"),
  repetition: z.int().positive().describe(
    "which measured repetition (from 1); the warm-up run is not recorded",
  ),
});

export type PagemapScanRow = z.infer<typeof PagemapScanRow>;

export const PagemapScanVsRead = datasetSchema(
  MeasuredProvenance,
  PagemapScanRow,
  "PAGEMAP_SCAN versus /proc/self/pagemap reads, kernel and simulator, by region size",
);

export type PagemapScanVsRead = z.infer<typeof PagemapScanVsRead>;
