import assert from "node:assert/strict";
import { DEFAULT_CONFIG, makeConfig } from "./config.ts";
import { simulate } from "./kernel.ts";
import * as C from "./constants.ts";

Deno.test("makeConfig() merges overrides into Debian's defaults", () => {
  const cfg = makeConfig({ MEMORY_FAILURE: false });
  assert.equal(cfg.MEMORY_FAILURE, false);
  assert.equal(cfg.MEM_SOFT_DIRTY, DEFAULT_CONFIG.MEM_SOFT_DIRTY);
});

Deno.test("makeConfig() rejects unknown options and the CONFIG_ prefix by name", () => {
  assert.throws(
    () => makeConfig({ CONFIG_MEMORY_FAILURE: true } as never),
    /without the CONFIG_ prefix/,
  );
  assert.throws(() => makeConfig({ NOPE: true } as never), /unknown kernel config option "NOPE"/);
  assert.throws(() => makeConfig({ MEMORY_FAILURE: 1 } as never), /true or false/);
});

Deno.test("without MEM_SOFT_DIRTY pagemap's soft-dirty bit is always 0", () => {
  for (const MEM_SOFT_DIRTY of [true, false]) {
    const p = simulate({ config: { MEM_SOFT_DIRTY } }).spawn();
    const a = p.mmap(0, C.PAGE_SIZE, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
    assert.equal(p.pagemap(a).softDirty, MEM_SOFT_DIRTY, "hole in a new VMA");
    p.write(a, 1);
    assert.equal(p.pagemap(a).softDirty, MEM_SOFT_DIRTY, "written page");
  }
});

Deno.test("simulate() rejects an unknown arch", () => {
  assert.throws(() => simulate({ arch: "riscv" as never }), /unknown arch "riscv"/);
});
