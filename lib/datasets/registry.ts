/**
 * Every dataset file in datasets/ and its schema. Adding a dataset is one
 * schema file in lib/datasets/schemas/ and one line here; the datasets test
 * fails for a file in datasets/ that has no line.
 *
 * @module
 */
import { DevicePingPong } from "./schemas/device_pingpong.ts";
import { FaultsSimVsKernel } from "./schemas/faults_sim_vs_kernel.ts";
import { GupContPteQuote } from "./schemas/gup_cont_pte_quote.ts";
import { PagemapScanVsRead } from "./schemas/pagemap_scan_vs_read.ts";
import { KhugepagedRace } from "./schemas/khugepaged_race.ts";
import { SimMemory } from "./schemas/sim_memory.ts";
import { ThpFaultCost } from "./schemas/thp_fault_cost.ts";
import { UffdOpsLive } from "./schemas/uffd_ops_live.ts";
import { UffdOpsSim } from "./schemas/uffd_ops_sim.ts";

export const DATASETS = {
  "device_pingpong.json": DevicePingPong,
  "faults_sim_vs_kernel.json": FaultsSimVsKernel,
  "gup_cont_pte_quote.json": GupContPteQuote,
  "khugepaged_race.json": KhugepagedRace,
  "pagemap_scan_vs_read.json": PagemapScanVsRead,
  "sim_memory.json": SimMemory,
  "thp_fault_cost.json": ThpFaultCost,
  "uffd_ops_live.json": UffdOpsLive,
  "uffd_ops_sim.json": UffdOpsSim,
} as const;

/** The file name of a registered dataset. */
export type DatasetName = keyof typeof DATASETS;
