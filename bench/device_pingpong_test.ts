import assert from "node:assert/strict";
import { loadDataset } from "../lib/datasets/mod.ts";
import { devicePingPongDataset } from "./device_pingpong.ts";

Deno.test("datasets/device_pingpong.json is what the model computes today", async () => {
  const stored = await loadDataset("device_pingpong.json");
  const now = devicePingPongDataset(new Date());
  assert.equal(stored.provenance.kind, "simulated");
  // A change to the model that moves these counts must regenerate the dataset.
  assert.deepEqual(stored.rows, now.rows);
});
