import assert from "node:assert/strict";
import { MeasuredProvenance } from "../lib/datasets/mod.ts";
import { liveTestsEnabled } from "../lib/live/_testing.ts";
import { type HostProbe, probeHost } from "../lib/live/mod.ts";
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
    files: {
      enabled: "always [madvise] never",
      defrag: "always defer defer+madvise [madvise] never",
      "hugepages-16kB/enabled": "always inherit madvise [never]",
      "hugepages-2048kB/enabled": "always [inherit] madvise never",
    },
  },
  ffi: { usable: true },
  privileges: { euid: 0, capSysAdmin: true, capSysPtrace: true },
  unprivilegedUserfaultfd: 0,
  uffd: null,
  pagemapScan: true,
  nativeHelpers: true,
  missing: { uffd: "not asked" },
};

Deno.test("machineOf() records THP files by their sysfs paths", () => {
  assert.deepEqual(machineOf(PROBE), {
    cpu: "AMD EPYC 7B13",
    cores: 2,
    memoryBytes: 25276502016,
    kernel: "6.18.4-amd64",
    thp: {
      enabled: "always [madvise] never",
      defrag: "always defer defer+madvise [madvise] never",
      "hugepages-16kB/enabled": "always inherit madvise [never]",
      "hugepages-2048kB/enabled": "always [inherit] madvise never",
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

const ROW = { residentPages: 4096, heapBytes: 1_000_000, bytesPerPage: 40.5, seconds: 0.01 };

Deno.test("measuredProvenance() of this host validates against MeasuredProvenance", () => {
  const probe = liveTestsEnabled() ? probeHost() : PROBE;
  MeasuredProvenance.parse(measuredProvenance("bench/faults.ts", new Date(), probe, "notes"));
});

Deno.test("writeDatasetAtomic() replaces the file and leaves no temporary behind", async () => {
  const dir = await Deno.makeTempDir();
  const sub = new URL(`file://${dir}/sub/`);
  const provenance = measuredProvenance("bench/sim_memory.ts", new Date(0), PROBE, "");
  await writeDatasetAtomic("sim_memory.json", { provenance, rows: [ROW] }, sub);
  const url = await writeDatasetAtomic(
    "sim_memory.json",
    { provenance, rows: [{ ...ROW, seconds: 2 }] },
    sub,
  );
  assert.equal(url.href, new URL("sim_memory.json", sub).href);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(url)).rows, [{ ...ROW, seconds: 2 }]);
  assert.deepEqual([...Deno.readDirSync(sub)].map((e) => e.name), ["sim_memory.json"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeDatasetAtomic() refuses rows its schema rejects and writes nothing", async () => {
  const dir = new URL(`file://${await Deno.makeTempDir()}/`);
  const provenance = measuredProvenance("bench/sim_memory.ts", new Date(0), PROBE, "");
  await assert.rejects(
    writeDatasetAtomic("sim_memory.json", { provenance, rows: [{ ...ROW, heapBytes: 1.5 }] }, dir),
    { name: "DatasetError", message: /rows\[0\]\.heapBytes/ },
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
  await Deno.remove(dir, { recursive: true });
});
