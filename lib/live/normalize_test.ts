import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { Errno } from "../kernel/errno.ts";
import { Signal } from "../kernel/signal.ts";
import { decodePagemapEntry } from "../proc/task_mmu.ts";
import {
  hostModelThp,
  normalizePagemap,
  normalizeResult,
  normalizeScan,
  normalizeThrown,
  normalizeUffdMessages,
  sameOutcome,
} from "./normalize.ts";

Deno.test("normalizePagemap() keeps the flag bits and drops the PFN and raw value", () => {
  const e = decodePagemapEntry(C.PM_PRESENT | C.PM_MMAP_EXCLUSIVE | 0x1234n);
  assert.deepEqual(normalizePagemap(e), {
    present: true,
    swapped: false,
    file: false,
    exclusive: true,
    softDirty: false,
    uffdWp: false,
    guard: false,
  });
});

Deno.test("normalizeResult(): mmap is new or fixed, memfd is fd, bytes are numbers", () => {
  assert.equal(normalizeResult("mmap", 0x7f0000000000), "new");
  assert.equal(normalizeResult("mmap", 0x7f0000001000, 0x7f0000001000), "fixed");
  assert.equal(normalizeResult("memfdCreate", 7), "fd");
  assert.deepEqual(normalizeResult("read", Uint8Array.of(1, 2)), [1, 2]);
  assert.equal(normalizeResult("read", 9), 9);
  assert.equal(normalizeResult("write", undefined), null);
  assert.equal(normalizeResult("munmap", 0), 0);
});

Deno.test("normalizeThrown(): errno by name; a signal with si_code, si_addr offset and addr_lsb", () => {
  assert.deepEqual(normalizeThrown(new Errno("ENOMEM", "mmap")), { errno: "ENOMEM" });
  assert.deepEqual(normalizeThrown(new Signal("SIGBUS", "BUS_ADRERR", 0x1005), 0x1000), {
    signal: "SIGBUS",
    code: "BUS_ADRERR",
    at: 5,
  });
  assert.deepEqual(normalizeThrown(new Signal("SIGBUS", "BUS_MCEERR_AR", 0x2000, 12), 0x2000), {
    signal: "SIGBUS",
    code: "BUS_MCEERR_AR",
    at: 0,
    lsb: 12,
  });
  assert.throws(() => normalizeThrown(new TypeError("x")), TypeError);
});

Deno.test("sameOutcome(): si_code and si_addr count, unless the live side had no fault report", () => {
  const model = { signal: "SIGSEGV", code: "SEGV_MAPERR", at: 0 };
  assert.ok(sameOutcome(model, { signal: "SIGSEGV", code: "SEGV_MAPERR", at: 0 }));
  assert.ok(!sameOutcome(model, { signal: "SIGSEGV", code: "SEGV_ACCERR", at: 0 }));
  assert.ok(!sameOutcome(model, { signal: "SIGSEGV", code: "SEGV_MAPERR", at: 4 }));
  assert.ok(sameOutcome(model, { signal: "SIGSEGV" }));
  assert.ok(!sameOutcome(model, { signal: "SIGBUS" }));
  assert.ok(!sameOutcome({ errno: "EFAULT" }, { signal: "SIGSEGV" }));
  assert.ok(sameOutcome({ ok: 1 }, { ok: 1 }));
});

Deno.test("normalizeScan(): regions and walk_end as page offsets from the scan's start", () => {
  const P = C.PAGE_SIZE, base = 0x7f0000000000;
  const r = {
    regions: [{ start: base + P, end: base + 3 * P, categories: 10 }],
    walkEnd: base + 4 * P,
  };
  assert.deepEqual(normalizeScan(r, base), { regions: [[1, 3, 10]], walkEnd: 4 });
  assert.deepEqual(normalizeResult("pagemapScan", r, undefined, base), normalizeScan(r, base));
});

Deno.test("normalizeUffdMessages(): flags, and the address as an offset from the step's", () => {
  const at = 0x7f0000002005;
  assert.deepEqual(
    normalizeUffdMessages([{ flags: 1, address: 0x7f0000002000 }, {
      flags: 0,
      address: 0x7f0000003000,
    }], at),
    [[1, -5], [0, 4091]],
  );
});

Deno.test("hostModelThp(): the knobs of a sysfs tree, hugepages-<size>kB included", () => {
  const root = Deno.makeTempDirSync();
  try {
    const put = (path: string, text: string) => {
      const full = `${root}/${path}`;
      Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(full, text + "\n");
    };
    put("enabled", "always [madvise] never");
    put("use_zero_page", "1");
    put("hugepages-64kB/enabled", "always inherit [madvise] never");
    put("hugepages-2048kB/enabled", "always [inherit] madvise never");
    put("hugepages-8kB/enabled", "always inherit madvise [never]"); // no anon size on x86-64
    assert.deepEqual(hostModelThp(root), {
      enabled: "madvise",
      use_zero_page: true,
      hugepages: { 64: "madvise", 2048: "inherit" },
    });
    // The model accepts what was read.
    assert.equal(simulate({ thp: hostModelThp(root) }).core.thp.hugepages[64], "madvise");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
