import assert from "node:assert/strict";
import { mthpKnobsUnavailable, withMthpKnobs } from "./thp_knobs.ts";

/** A sysfs-like tree in a temporary directory: files that read back what was written. */
function fakeSysfs(): string {
  const root = Deno.makeTempDirSync();
  for (const kb of [16, 64]) {
    Deno.mkdirSync(`${root}/hugepages-${kb}kB`);
    Deno.writeTextFileSync(`${root}/hugepages-${kb}kB/enabled`, "always inherit madvise [never]\n");
  }
  return root;
}

Deno.test("withMthpKnobs(): sets the knobs for the call and writes back what was there", async () => {
  const root = fakeSysfs();
  try {
    const read = () => Deno.readTextFileSync(`${root}/hugepages-16kB/enabled`);
    const seen = await withMthpKnobs({ 16: "madvise" }, () => read(), root);
    assert.equal(seen, "madvise");
    assert.equal(read(), "never", "restored (as the bracketed choice)");
    await assert.rejects(
      () =>
        withMthpKnobs({ 64: "always" }, () => {
          throw new Error("the experiment failed");
        }, root),
      /the experiment failed/,
    );
    assert.equal(Deno.readTextFileSync(`${root}/hugepages-64kB/enabled`), "never");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("mthpKnobsUnavailable() names a size the kernel does not have", () => {
  const root = fakeSysfs();
  try {
    assert.equal(mthpKnobsUnavailable({ 16: "madvise" }, root), null);
    assert.match(mthpKnobsUnavailable({ 32: "madvise" }, root)!, /no .*hugepages-32kB/);
    // A knob that cannot be opened for writing (here a directory, which
    // even root cannot write as a file) is reported, not written.
    Deno.mkdirSync(`${root}/hugepages-128kB/enabled`, { recursive: true });
    assert.match(mthpKnobsUnavailable({ 128: "madvise" }, root)!, /cannot be written/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
