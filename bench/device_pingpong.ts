/**
 * The ping-pong dataset of lesson 05 (datasets/device_pingpong.json): the
 * simulator's event counts per access for CPU/device ping-pong on one
 * device-exclusive page, by CPU share, run length and kernel version —
 * pingPong() of lib/lessons/device_exclusive.ts, with its provenance.
 *
 * @module
 */
import type { DevicePingPong } from "../lib/datasets/schemas/device_pingpong.ts";
import { pingPong } from "../lib/lessons/device_exclusive.ts";

/** The script's path, as the provenance names it. */
export const DEVICE_PINGPONG_SCRIPT = "bench/device_pingpong.ts";

/** The whole dataset: the rows pingPong() computes now, and where they came from. */
export function devicePingPongDataset(date: Date): DevicePingPong {
  const rows = pingPong();
  return {
    provenance: {
      kind: "simulated",
      script: DEVICE_PINGPONG_SCRIPT,
      command: "deno task bench --only=device_pingpong",
      date: date.toISOString(),
      kernelModel: "mm-lab simulated Linux v6.18, x86_64, default (Debian-like) config; " +
        "rows of version v6.14 use simulate({ variants: { deviceExclusiveRange: true } })",
      notes: `pingPong() in lib/lessons/device_exclusive.ts: ${rows[0].accesses} accesses to ` +
        "one anonymous page, a share of them by the CPU (a read-modify-write through the " +
        "process) and the rest device atomics through the simulated device (k.device(p)), in " +
        "runs of 1 or 10 consecutive accesses by the same side, spread evenly. Counts read " +
        "from vmstat pgfault and the device's statistics (invalidations received, exclusive " +
        "access lost, make_device_exclusive() calls), divided by the accesses. Event counts of " +
        "the model, deterministic; not times, and not measured on a real device.",
    },
    rows,
  };
}
