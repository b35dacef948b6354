import assert from "node:assert/strict";
import { anonSizesKb, MODEL_NO_SIZE, simulatorNs, ThpKnobs } from "./thp_faults.ts";

Deno.test("anonSizesKb() and ThpKnobs on a fake sysfs: only one size allowed, then restored", () => {
  const root = Deno.makeTempDirSync();
  try {
    for (const kb of [16, 64, 2048]) {
      Deno.mkdirSync(`${root}/hugepages-${kb}kB`);
      Deno.writeTextFileSync(
        `${root}/hugepages-${kb}kB/enabled`,
        kb === 2048 ? "always [inherit] madvise never" : "always inherit madvise [never]",
      );
    }
    Deno.mkdirSync(`${root}/hugepages-8kB`); // shmem-only: no `enabled`
    assert.deepEqual(anonSizesKb(root), [16, 64, 2048]);
    const knobs = new ThpKnobs(root);
    knobs.only(64);
    assert.equal(Deno.readTextFileSync(`${root}/hugepages-64kB/enabled`), "always");
    assert.equal(Deno.readTextFileSync(`${root}/hugepages-2048kB/enabled`), "never");
    knobs.restore();
    assert.equal(Deno.readTextFileSync(`${root}/hugepages-2048kB/enabled`), "inherit");
    assert.equal(Deno.readTextFileSync(`${root}/hugepages-64kB/enabled`), "never");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("simulatorNs(): faults with every folio size and MADV_COLLAPSE on the model", () => {
  for (const kb of [4, 16, 64, 1024, 2048]) assert.ok(simulatorNs("fault", kb, 4 * 2 ** 20, 1) > 0);
  assert.ok(simulatorNs("MADV_COLLAPSE", 2048, 4 * 2 ** 20, 1) > 0);
  // A size the model has no folios of: the check that it allocated them fails.
  assert.throws(() => simulatorNs("fault", 8, 4 * 2 ** 20, 1), /made 0, not 512/);
  assert.match(MODEL_NO_SIZE, /no anonymous folios of this size/);
});
