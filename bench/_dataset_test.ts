import assert from "node:assert/strict";
import type { HostProbe } from "../lib/live/mod.ts";
import { machineOf, measuredProvenance, writeDatasetAtomic } from "./_dataset.ts";

const PROBE: HostProbe = {
  os: "linux",
  arch: "x86_64",
  kernelRelease: "6.18.4-amd64",
  cpuModel: "AMD EPYC 7B13",
  cores: 2,
  memTotalBytes: 25276502016,
  thp: {
    enabled: "madvise",
    defrag: "madvise",
    hugepages: { "hugepages-16kB": "never", "hugepages-2048kB": "inherit" },
  },
  ffi: { usable: true },
  missing: {},
};

Deno.test("machineOf() flattens THP knobs to their sysfs paths", () => {
  assert.deepEqual(machineOf(PROBE), {
    cpu: "AMD EPYC 7B13",
    cores: 2,
    memoryBytes: 25276502016,
    kernel: "6.18.4-amd64",
    thp: {
      enabled: "madvise",
      defrag: "madvise",
      "hugepages-16kB/enabled": "never",
      "hugepages-2048kB/enabled": "inherit",
    },
  });
});

Deno.test("measuredProvenance() records script, command, date and runtime", () => {
  const p = measuredProvenance("bench/faults.ts", new Date(Date.UTC(2025, 0, 2)), PROBE, "n");
  assert.deepEqual(
    { ...p, machine: undefined },
    {
      kind: "measured",
      script: "bench/faults.ts",
      command: "deno task bench",
      date: "2025-01-02T00:00:00.000Z",
      machine: undefined,
      runtime: { deno: Deno.version.deno, v8: Deno.version.v8 },
      notes: "n",
    },
  );
});

Deno.test("writeDatasetAtomic() replaces the file and leaves no temporary behind", async () => {
  const dir = await Deno.makeTempDir();
  const url = new URL(`file://${dir}/sub/data.json`);
  const provenance = measuredProvenance("bench/x.ts", new Date(0), PROBE, "");
  await writeDatasetAtomic(url, { provenance, rows: [{ a: 1 }] });
  await writeDatasetAtomic(url, { provenance, rows: [{ a: 2 }] });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(url)).rows, [{ a: 2 }]);
  assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["data.json"]);
  await Deno.remove(dir, { recursive: true });
});
