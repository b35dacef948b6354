import assert from "node:assert/strict";
import { compareEntries, livePoisonAccess, pteClass, runMigration, setupEntry } from "./mod.ts";

Deno.test("compareEntries(): hwpoison entry and poison marker behave alike from user space", () => {
  const [hw, marker] = compareEntries(["hwpoison", "marker:poisoned"]);
  const { entry: _a, pte: _b, "made by": _e, ...hwRest } = hw;
  const { entry: _c, pte: _d, "made by": _f, ...markerRest } = marker;
  assert.deepEqual(hwRest, markerRest);
  assert.equal(hw.signal, "SIGBUS BUS_MCEERR_AR");
});

Deno.test("compareEntries(): a swapin error left by swapoff() is the UFFDIO_POISON marker", () => {
  const [readError, swapin, uffd] = compareEntries([
    "swap:read-error",
    "marker:swapin-error",
    "marker:poisoned",
  ]);
  const { "made by": _a, ...swapinRest } = swapin;
  const { "made by": _b, ...uffdRest } = uffd;
  assert.deepEqual(swapinRest, uffdRest);
  assert.deepEqual(
    [readError["handle_mm_fault()"], readError.signal, readError["log line"]],
    ["VM_FAULT_SIGBUS", "SIGBUS BUS_ADRERR", "—"],
  );
  assert.equal(readError.entry, "swap");
});

Deno.test("setupEntry(): each kind classifies as itself", () => {
  for (
    const kind of [
      "present",
      "hwpoison",
      "marker:poisoned",
      "marker:guard",
      "marker:uffd-wp",
    ] as const
  ) {
    const s = setupEntry(kind);
    assert.equal(pteClass(s.k.walk(s.p, s.a).levels.at(-1)!.entry, s.k.config), kind);
  }
});

Deno.test("runMigration(): zero-filling the bad page loses the poison, both logs kept", () => {
  const r = runMigration({ pages: 2, bad: [0] }, (f) => {
    if (f.recv === null) f.uffd.zeropage({ range: { start: f.address, len: 4096 }, mode: 0 });
    else f.uffd.copy({ dst: f.address, src: f.recv, len: 4096, mode: 0 });
  });
  assert.deepEqual(r.source, ["SIGBUS BUS_MCEERR_AR", "0x41"]);
  assert.deepEqual(r.destination, ["0x0", "0x41"]);
  assert.equal(r.dmesg.source.length, 4);
  assert.deepEqual(r.dmesg.destination, []);
});

Deno.test("livePoisonAccess(): the model as configured, and this kernel where it can run", async () => {
  const r = await livePoisonAccess();
  const bySystem = Object.fromEntries(r.rows.map((row) => [row.system, row]));
  assert.deepEqual(bySystem["model, MEMORY_FAILURE=y"], {
    system: "model, MEMORY_FAILURE=y",
    signal: "SIGBUS",
    si_code: "BUS_MCEERR_AR",
    "si_addr − address": 0,
    si_addr_lsb: 12,
  });
  if (r.unavailable !== null) {
    console.log(`kernel half not run: ${r.unavailable}`);
    return;
  }
  // The kernel's row is the row of the model configured as the kernel is.
  const [model, kernel] = r.rows.slice(1);
  assert.equal(kernel.system, `kernel ${r.kernel}`);
  const { system: _m, ...fromModel } = model;
  const { system: _k, ...fromKernel } = kernel;
  assert.deepEqual(fromKernel, fromModel);
  assert.notEqual(fromKernel.si_code, "(not reported)");
});
