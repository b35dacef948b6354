import assert from "node:assert/strict";
import { explore } from "./explore.ts";
import { replay } from "./replay.ts";
import { anonFaultRace } from "./textbook.ts";

Deno.test("anonFaultRace() without vmf_pte_changed(): both faults install, rss counts 2", () => {
  const r = explore(anonFaultRace({ recheck: false }));
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(r.trace.steps.length, 12);
  assert.equal(
    r.trace.failure.message,
    "VM_BUG_ON: rss counter: MM_ANONPAGES is 2, page tables map 1 [rss=2 pte=257]",
  );
  // The second fault read pte_none before the first installed its page.
  const reads = r.trace.steps.filter((s) => s.label === "orig_pte = ptep_get()");
  const install = r.trace.steps.find((s) => s.label === "set_pte_at()")!;
  assert.ok(reads.every((s) => s.index < install.index));
  const again = replay(r.trace);
  again.run();
  assert.deepEqual(again.state.live, [0x100, 0x101]);
  assert.equal(again.state.pte, 0x101);
});

Deno.test("anonFaultRace() with vmf_pte_changed(): safe in every interleaving", () => {
  const naive = explore(anonFaultRace(), { naive: true });
  const reduced = explore(anonFaultRace());
  assert.equal(
    naive.message,
    "do_anonymous_page() with vmf_pte_changed(): all 70 interleavings safe (565 states)",
  );
  assert.equal(
    reduced.message,
    "do_anonymous_page() with vmf_pte_changed(): all 6 interleavings safe (70 states)",
  );
});
