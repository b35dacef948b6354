import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { runScenario, type ScenarioOp } from "./scenario.ts";

const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function run(ops: ScenarioOp[]) {
  return runScenario(simulate().spawn(), ops, C.PAGE_SIZE).outcomes;
}

Deno.test("runScenario() resolves { m, page, byte } to the address op m returned", () => {
  assert.deepEqual(
    run([
      { op: "mmap", args: [0, 2 * C.PAGE_SIZE, RW, ANON, -1, 0] },
      { op: "write", args: [{ m: 0, page: 1, byte: 3 }, 0x41] },
      { op: "read", args: [{ m: 0, page: 1, byte: 3 }] },
      { op: "mmap", args: [{ m: 0, page: 1 }, C.PAGE_SIZE, RW, ANON | C.MAP_FIXED, -1, 0] },
      { op: "read", args: [{ m: 0, page: 1, byte: 3 }] },
    ]),
    [{ ok: "new" }, { ok: null }, { ok: 0x41 }, { ok: "fixed" }, { ok: 0 }],
  );
});

Deno.test("runScenario(): a reference to a failed op is unresolved, a closed fd is -1", () => {
  assert.deepEqual(
    run([
      { op: "mmap", args: [0, 0, RW, ANON, -1, 0] },
      { op: "read", args: [{ m: 0 }] },
      { op: "memfdCreate", args: ["t", 0] },
      { op: "close", args: [{ fd: 2 }] },
      { op: "ftruncate", args: [{ fd: 2 }, C.PAGE_SIZE] },
    ]),
    [{ errno: "EINVAL" }, { unresolved: true }, { ok: "fd" }, { ok: 0 }, { errno: "EBADF" }],
  );
});

Deno.test("runScenario() stops at the first signal", () => {
  assert.deepEqual(
    run([
      { op: "mmap", args: [0, C.PAGE_SIZE, C.PROT_NONE, ANON, -1, 0] },
      { op: "read", args: [{ m: 0, byte: 9 }] },
      { op: "pagemap", args: [{ m: 0 }] },
    ]),
    [{ ok: "new" }, { signal: "SIGSEGV", code: "SEGV_ACCERR", at: 0 }],
  );
});

Deno.test("runScenario() consults the guard and stops where it refuses", () => {
  const refused: string[] = [];
  const { outcomes } = runScenario(
    simulate().spawn(),
    [
      { op: "mmap", args: [0, C.PAGE_SIZE, RW, ANON, -1, 0] },
      { op: "write", args: [{ m: 0 }, 1] },
      { op: "read", args: [{ m: 0 }] },
    ],
    C.PAGE_SIZE,
    undefined,
    {
      before: (op) => op.op === "write" ? "not ours" : null,
      after: (op) => refused.push(op.op),
    },
  );
  assert.deepEqual(outcomes, [{ ok: "new" }, { unsafe: "not ours" }]);
  assert.deepEqual(refused, ["mmap"]);
});

Deno.test("runScenario(): an outcome the guard's recheck explains becomes an unsafe step", () => {
  const { outcomes } = runScenario(
    simulate().spawn(),
    [
      { op: "mmap", args: [0, C.PAGE_SIZE, RW, ANON, -1, 0] },
      { op: "munmap", args: [1, C.PAGE_SIZE] },
      { op: "read", args: [{ m: 0 }] },
    ],
    C.PAGE_SIZE,
    undefined,
    {
      before: () => null,
      after: () => {},
      recheck: (op) => op.op === "munmap" ? "a foreign mapping appeared" : null,
    },
  );
  assert.deepEqual(outcomes, [{ ok: "new" }, { unsafe: "a foreign mapping appeared" }]);
  // A step that succeeded is rechecked too: a read may have read a page
  // that another thread mapped after the check before it.
  const read = runScenario(
    simulate().spawn(),
    [
      { op: "mmap", args: [0, 2 * C.PAGE_SIZE, RW, ANON, -1, 0] },
      { op: "write", args: [{ m: 0 }, 7] },
      { op: "read", args: [{ m: 0 }] },
      { op: "read", args: [{ m: 0, page: 1 }] },
    ],
    C.PAGE_SIZE,
    undefined,
    {
      before: () => null,
      after: () => {},
      recheck: (op) => op.op === "read" ? "a foreign mapping appeared" : null,
    },
  );
  assert.deepEqual(read.outcomes, [{ ok: "new" }, { ok: null }, {
    unsafe: "a foreign mapping appeared",
  }]);
});

Deno.test("runScenario(): pagemap with a page count reads that many entries", () => {
  const [, , sweep] = run([
    { op: "mmap", args: [0, 3 * C.PAGE_SIZE, RW, ANON, -1, 0] },
    { op: "write", args: [{ m: 0, page: 1 }, 1] },
    { op: "pagemap", args: [{ m: 0 }, 3] },
  ]);
  assert.ok("ok" in sweep && Array.isArray(sweep.ok));
  assert.deepEqual((sweep.ok as { present: boolean }[]).map((e) => e.present), [
    false,
    true,
    false,
  ]);
});

Deno.test("runScenario(): uffdWpAsync, uffdWriteprotect and pagemapScan, regions in pages from the start", () => {
  const P = C.PAGE_SIZE, W = C.PAGE_IS_WRITTEN, A = C.PAGE_IS_WPALLOWED;
  const out = run([
    { op: "mmap", args: [0, 4 * P, RW, ANON, -1, 0] },
    { op: "uffdWpAsync", args: [{ m: 0 }, 4 * P] },
    { op: "uffdWriteprotect", args: [{ m: 0 }, 4 * P, C.UFFDIO_WRITEPROTECT_MODE_WP] },
    { op: "write", args: [{ m: 0, page: 2 }, 1] },
    { op: "pagemapScan", args: [{ m: 0, page: 1 }, 3 * P, 0, 4, 0, 0, W, 0, W | A] },
    { op: "pagemapScan", args: [{ m: 0, page: 1 }, 3 * P, 4, 4, 0, 0, W, 0, W] },
  ]);
  // UFFDIO_REGISTER reports UFFDIO_CONTINUE only for MINOR registrations.
  assert.deepEqual(out[1], { ok: C.UFFD_API_RANGE_IOCTLS & ~(1 << C._UFFDIO_CONTINUE) });
  assert.deepEqual(out[4], { ok: { regions: [[1, 2, W | A]], walkEnd: 3 } });
  assert.deepEqual(out[5], { errno: "EINVAL" });
});

Deno.test("runScenario(): mmapAligned maps exactly the aligned range, nothing around it", () => {
  const p = simulate().spawn();
  const { outcomes, context } = runScenario(
    p,
    [
      { op: "mmapAligned", args: [8 * C.PAGE_SIZE, 4 * C.PAGE_SIZE, RW, ANON] },
      { op: "pagemap", args: [{ m: 0 }, 8] },
    ],
    C.PAGE_SIZE,
  );
  assert.deepEqual(outcomes[0], { ok: "new" });
  const a = context.addrs.get(0)!;
  assert.equal(a % (4 * C.PAGE_SIZE), 0);
  // One VMA, [a, a + 8 pages): the extra pages mapped to align it are gone.
  const near = p.mm.vmas.filter((v) =>
    v.vm_end > a - 4 * C.PAGE_SIZE && v.vm_start < a + 12 * C.PAGE_SIZE
  );
  assert.deepEqual(near.map((v) => [v.vm_start - a, v.vm_end - a]), [[0, 8 * C.PAGE_SIZE]]);
});

Deno.test("runScenario(): mremap results are same, fixed or new, and name the moved mapping", () => {
  const P = C.PAGE_SIZE;
  const outcomes = run([
    { op: "mmap", args: [0, 4 * P, RW, ANON, -1, 0] },
    { op: "write", args: [{ m: 0, page: 1 }, 5] },
    { op: "mremap", args: [{ m: 0 }, 4 * P, 2 * P, 0, 0] }, // shrink: stays
    { op: "mmap", args: [0, 4 * P, C.PROT_NONE, ANON, -1, 0] },
    { op: "mremap", args: [{ m: 0 }, 2 * P, 2 * P, C.MREMAP_MAYMOVE | C.MREMAP_FIXED, { m: 3 }] },
    { op: "read", args: [{ m: 4, page: 1 }] },
    { op: "mremap", args: [{ m: 4 }, 2 * P, 2 * P, C.MREMAP_MAYMOVE | C.MREMAP_DONTUNMAP, 0] },
    { op: "read", args: [{ m: 6, page: 1 }] },
    { op: "mremap", args: [{ m: 6 }, 2 * P, 2 * P, 8, 0] },
  ]);
  assert.deepEqual(outcomes.slice(2), [
    { ok: "same" },
    { ok: "new" },
    { ok: "fixed" },
    { ok: 5 },
    { ok: "new" },
    { ok: 5 },
    { errno: "EINVAL" },
  ]);
});
