import assert from "node:assert/strict";
import {
  DatasetError,
  describeDataset,
  formatPath,
  loadDataset,
  parseDataset,
  schemaOf,
} from "./load.ts";

const PROVENANCE = {
  kind: "measured",
  script: "bench/faults.ts",
  command: "deno task bench",
  date: "2025-11-21T14:13:00.000Z",
  machine: {
    cpu: "Example CPU",
    cores: 2,
    memoryBytes: 25769803776,
    kernel: "6.18.0",
    thp: { enabled: "always [madvise] never" },
  },
  runtime: { deno: "2.9.6", v8: "15.0.245.2" },
  notes: "a fixture",
};

const ROW = {
  system: "kernel",
  pages: 262144,
  seconds: 0.2,
  faultsPerSecond: 1310720,
  repetition: 1,
};

/** The faults dataset with `rows` replaced, as JSON text. */
function faults(rows: unknown[], provenance: unknown = PROVENANCE): string {
  return JSON.stringify({ provenance, rows });
}

/** The message of the DatasetError that `fn` throws. */
function errorOf(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DatasetError, `expected a DatasetError, got ${error}`);
    return error;
  }
  assert.fail("expected a DatasetError");
}

Deno.test("parseDataset() accepts a valid file and types its rows", () => {
  const data = parseDataset("faults_sim_vs_kernel.json", faults([ROW]));
  assert.equal(data.rows[0].faultsPerSecond, 1310720);
  assert.equal(data.provenance.kind, "measured");
});

Deno.test("parseDataset() names file, row, field and value of a wrong type", () => {
  const error = errorOf(() =>
    parseDataset("faults_sim_vs_kernel.json", faults([ROW, ROW, ROW, { ...ROW, seconds: "fast" }]))
  );
  assert.equal(
    error.message,
    `datasets/faults_sim_vs_kernel.json: rows[3].seconds: expected number, got "fast"`,
  );
  assert.deepEqual(error.issues, [{
    path: "rows[3].seconds",
    message: `expected number, got "fast"`,
    value: "fast",
  }]);
});

Deno.test("parseDataset() error messages, one per kind of issue", async (t) => {
  const cases: [string, unknown[], unknown, string][] = [
    [
      "missing field",
      [{ ...ROW, pages: undefined }],
      PROVENANCE,
      "rows[0].pages: missing (expected number)",
    ],
    [
      "not an integer",
      [{ ...ROW, pages: 1.5 }],
      PROVENANCE,
      "rows[0].pages: expected integer, got 1.5",
    ],
    [
      "not in the enum",
      [{ ...ROW, system: "sim" }],
      PROVENANCE,
      `rows[0].system: expected "simulator" | "kernel", got "sim"`,
    ],
    [
      "unknown field",
      [{ ...ROW, faults: 3 }],
      PROVENANCE,
      "rows[0].faults: unknown field (not in the schema), got 3",
    ],
    [
      "below the minimum",
      [{ ...ROW, seconds: -1 }],
      PROVENANCE,
      "rows[0].seconds: expected > 0, got -1",
    ],
    ["no rows", [], PROVENANCE, "rows: expected length >= 1, got []"],
    [
      "wrong provenance kind",
      [ROW],
      { ...PROVENANCE, kind: "guessed" },
      `provenance.kind: expected "measured", got "guessed"`,
    ],
    [
      "bad date",
      [ROW],
      { ...PROVENANCE, date: "yesterday" },
      `provenance.date: expected an ISO 8601 date such as 2025-11-21 or 2025-11-21T14:13:00Z, got "yesterday"`,
    ],
    [
      "nested field",
      [ROW],
      { ...PROVENANCE, machine: { ...PROVENANCE.machine, cores: "two" } },
      `provenance.machine.cores: expected number, got "two"`,
    ],
  ];
  for (const [name, rows, provenance, expected] of cases) {
    await t.step(name, () => {
      const error = errorOf(() =>
        parseDataset("faults_sim_vs_kernel.json", faults(rows, provenance))
      );
      assert.equal(error.message, `datasets/faults_sim_vs_kernel.json: ${expected}`);
    });
  }
});

Deno.test("parseDataset() lists ten issues and counts the rest", () => {
  const rows = Array.from({ length: 12 }, () => ({ ...ROW, seconds: "?" }));
  const lines = errorOf(() => parseDataset("faults_sim_vs_kernel.json", faults(rows))).message
    .split("\n");
  assert.equal(lines.length, 11);
  assert.equal(lines[10], "datasets/faults_sim_vs_kernel.json: … and 2 more issues");
});

Deno.test("parseDataset() names the file of invalid JSON", () => {
  assert.match(
    errorOf(() => parseDataset("sim_memory.json", "{")).message,
    /^datasets\/sim_memory.json: not valid JSON \(/,
  );
});

Deno.test("schemaOf() of an unregistered file names it and the registered ones", () => {
  assert.match(
    errorOf(() => schemaOf("faults.json")).message,
    /^datasets\/faults.json: no schema registered for "faults.json" \(registered: device_pingpong.json, faults_sim_vs_kernel.json, gup_cont_pte_quote.json, khugepaged_race.json, pagemap_scan_vs_read.json, sim_memory.json, thp_fault_cost.json, uffd_ops_live.json, uffd_ops_sim.json\)/,
  );
});

Deno.test("loadDataset() reads once, caches, and freezes what it returns", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const url = new URL(`file://${dir}/faults_sim_vs_kernel.json`);
    Deno.writeTextFileSync(url, faults([ROW]));
    const first = loadDataset("faults_sim_vs_kernel.json", { dir: new URL(`file://${dir}/`) });
    Deno.writeTextFileSync(url, "not json any more");
    const second = loadDataset("faults_sim_vs_kernel.json", { dir: new URL(`file://${dir}/`) });
    assert.equal(second, first);
    assert.ok(Object.isFrozen(first.rows[0]));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadDataset() names a file it cannot read", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const error = errorOf(() => loadDataset("sim_memory.json", { dir: new URL(`file://${dir}/`) }));
    assert.match(error.message, new RegExp(`^${dir}/sim_memory.json: cannot read \\(NotFound`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("formatPath() writes paths as JavaScript", () => {
  assert.equal(formatPath(["rows", 3, "seconds"]), "rows[3].seconds");
  assert.equal(
    formatPath(["provenance", "machine", "thp", "hugepages-64kB/enabled"]),
    `provenance.machine.thp["hugepages-64kB/enabled"]`,
  );
  assert.equal(formatPath([]), "(top level)");
});

Deno.test("describeDataset() lists every row field with its units", () => {
  const fields = describeDataset("sim_memory.json");
  assert.deepEqual(fields.map((f) => f.field), [
    "residentPages",
    "heapBytes",
    "bytesPerPage",
    "seconds",
  ]);
  assert.ok(fields.every((f) => f.description !== ""));
  assert.match(fields.find((f) => f.field === "heapBytes")!.description, /in bytes/);
});
