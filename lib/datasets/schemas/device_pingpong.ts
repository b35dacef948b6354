/**
 * datasets/device_pingpong.json: what CPU/device ping-pong on one
 * device-exclusive page costs in kernel events per access, as the share of
 * CPU accesses grows — counted by the simulator (lib/lessons/device_exclusive.ts
 * pingPong(), run by `deno task bench --only=device_pingpong`). Counts of
 * events in the model, not times, and not measured on a real device.
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { SimulatedProvenance } from "../provenance.ts";

const perAccess = (what: string) =>
  z.number().nonnegative().describe(`${what} per access (a count divided by accesses)`);

/** One schedule: version, run length and CPU share, and its event counts per access. */
export const DevicePingPongRow = z.strictObject({
  version: z.enum(["v6.18", "v6.14"]).describe(
    "v6.18: make_device_exclusive(), MMU_NOTIFY_CLEAR on restore; v6.14: make_device_exclusive_range()",
  ),
  run: z.int().positive().describe("consecutive accesses by the same side (CPU or device)"),
  cpuShare: z.number().min(0).max(1).describe(
    "fraction of the accesses made by the CPU (a read-modify-write); the rest are device atomics",
  ),
  accesses: z.int().positive().describe("accesses to the one page in the schedule, a count"),
  faultsPerAccess: perAccess("CPU page faults (vmstat pgfault)"),
  invalidationsPerAccess: perAccess("MMU notifier invalidations the device received"),
  restoresPerAccess: perAccess("restores of the device-exclusive entry (the device lost the page)"),
  acquisitionsPerAccess: perAccess("make_device_exclusive() calls the device needed"),
});

export type DevicePingPongRow = z.infer<typeof DevicePingPongRow>;

export const DevicePingPong = datasetSchema(
  SimulatedProvenance,
  DevicePingPongRow,
  "kernel events per access of CPU/device ping-pong on a device-exclusive page, by CPU share",
);

export type DevicePingPong = z.infer<typeof DevicePingPong>;
