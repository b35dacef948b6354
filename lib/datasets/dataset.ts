/**
 * The shape shared by every dataset file: `{ "provenance": …, "rows": [ … ] }`.
 *
 * @module
 */
import { z } from "zod";

/**
 * The schema of one dataset file: its provenance schema (one kind, or the
 * whole {@linkcode Provenance} union) and the schema of a row. Both objects
 * are strict: a field that is not in the schema is an error, so that a typo
 * in a writer cannot go unnoticed.
 */
export function datasetSchema<P extends z.ZodType, R extends z.ZodType>(
  provenance: P,
  row: R,
  description: string,
) {
  return z.strictObject({
    provenance,
    rows: z.array(row).min(1).describe("the data, one object per observation"),
  }).describe(description);
}
