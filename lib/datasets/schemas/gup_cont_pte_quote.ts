/**
 * datasets/gup_cont_pte_quote.json: the slow-GUP slowdown Peter Xu measured
 * for hugetlb mapped with 64K contiguous PTEs when slow GUP stopped treating
 * a hugetlb page as one entry ("mm/gup: Unify hugetlb, part 2"), quoted from
 * 003_04fde8f735f91402.txt. Lesson 01 (hugepd) sets it beside what the
 * model's cost counters predict for the same change.
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { QuotedProvenance } from "../provenance.ts";

/** One message that states the figure. */
export const GupContPteQuoteRow = z.strictObject({
  author: z.string().min(1).describe("who wrote the message"),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe("the message's date, YYYY-MM-DD"),
  seedLines: z.string().regex(/^\d+-\d+$/).describe(
    "lines of 003_04fde8f735f91402.txt holding the quote, first-last (1-based)",
  ),
  quote: z.string().min(1).describe(
    "the sentence, verbatim (line breaks as spaces, quote marks of the reply dropped)",
  ),
  machine: z.string().min(1).describe("where it was measured, as the message says"),
  hugeSize: z.literal("64K").describe(
    "hugetlb page size: arm64 4K pages, 16 contiguous PTEs (CONT_PTE)",
  ),
  benchmark: z.string().min(1).describe("what was timed"),
  before: z.string().min(1).describe("the slow-GUP path before the change"),
  after: z.string().min(1).describe("the slow-GUP path after the change"),
  slowdownPercent: z.number().positive().describe(
    "how much slower the benchmark ran after the change, in percent of the time before",
  ),
  approximate: z.boolean().describe("true where the message says ~ (about)"),
});

export type GupContPteQuoteRow = z.infer<typeof GupContPteQuoteRow>;

export const GupContPteQuote = datasetSchema(
  QuotedProvenance,
  GupContPteQuoteRow,
  "slow-GUP slowdown for 64K cont-PTE hugetlb after 'mm/gup: Unify hugetlb, part 2', as quoted",
);

export type GupContPteQuote = z.infer<typeof GupContPteQuote>;
