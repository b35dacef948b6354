/**
 * Datasets: the zod schemas of the files in datasets/, their provenance, and
 * a loader that validates once and names file, row, field and value on error.
 *
 * @module
 */
export { DATASETS } from "./registry.ts";
export type { DatasetName } from "./registry.ts";
export {
  DatasetError,
  DATASETS_DIR,
  describeDataset,
  formatPath,
  loadDataset,
  parseDataset,
  schemaOf,
} from "./load.ts";
export type { DatasetIssue, DatasetOf, FieldDoc, LoadOptions } from "./load.ts";
export { datasetSchema } from "./dataset.ts";
export {
  IsoDate,
  Machine,
  MeasuredProvenance,
  Provenance,
  QuotedProvenance,
  SEED_FILE,
  SimulatedProvenance,
} from "./provenance.ts";
export { FaultsRow, FaultsSimVsKernel } from "./schemas/faults_sim_vs_kernel.ts";
export { SimMemory, SimMemoryRow } from "./schemas/sim_memory.ts";
