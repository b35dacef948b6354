import assert from "node:assert/strict";
import { explore } from "./explore.ts";
import { replay } from "./replay.ts";
import { timelineText } from "./timeline.ts";
import {
  collapseVersusUffdCopy,
  retractVersusLocklessWalk,
  retractVersusUffd,
} from "./khugepaged.ts";

Deno.test("collapse_pte_mapped_thp() before a98460494b16: UFFDIO_COPY between steps 2 and 4 ends in Bad rss-counter state", () => {
  const r = explore(collapseVersusUffdCopy({ variant: "pre-a98460494b16" }));
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(r.trace.failure.message, "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1");
  assert.equal(r.trace.steps.length, 30);
  const at = (thread: string, label: string) =>
    r.trace.steps.findIndex((s) => s.thread === thread && s.label === label);
  const step2 = at("collapse", "step 2: ptep_clear()");
  const install = at("uffdio_copy", "set_pte_at()");
  const flush = at("collapse", "pmdp_collapse_flush()");
  assert.ok(step2 >= 0 && step2 < install && install < flush, `${step2} ${install} ${flush}`);
  const again = replay(r.trace);
  again.run();
  assert.equal(again.state.pmd, 0);
  assert.deepEqual(again.state.tables[1], { pte: ["none", "anon"], freed: true });
  assert.deepEqual(again.state.dmesg, ["BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1"]);
});

Deno.test("collapse_pte_mapped_thp() v6.18: safe in every interleaving with UFFDIO_COPY", () => {
  const r = explore(collapseVersusUffdCopy());
  assert.equal(
    r.message,
    "collapse_pte_mapped_thp() (v6.18) vs UFFDIO_COPY: all 40 interleavings safe (269 states)",
  );
});

Deno.test("CONFIG_PAGE_TABLE_CHECK catches the table freed with a PTE in it, at pte_free_defer()", () => {
  const r = explore(
    collapseVersusUffdCopy({ variant: "pre-a98460494b16", pageTableCheck: true }),
  );
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(
    r.trace.failure.message,
    "page_table_check: freed PTE table 1 still holds none, anon",
  );
  assert.equal(r.trace.steps.at(-1)!.label, "pte_free_defer()");
});

Deno.test("retract_page_tables() without the recheck under ptl loses a uffd-wp marker (Peter Xu's question)", () => {
  const r = explore(retractVersusUffd({ racer: "uffd_wp", recheck: false }));
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.match(r.trace.failure.message, /uffd-wp protection lost/);
  // The marker went in after the unlocked userfaultfd_wp() check, before pmd_lock().
  const idx = (label: string) => r.trace.steps.findIndex((s) => s.label === label);
  assert.ok(idx("userfaultfd_wp(vma)") < idx("set_pte_at(PTE_MARKER_UFFD_WP)"));
  assert.ok(idx("set_pte_at(PTE_MARKER_UFFD_WP)") < idx("pmdp_collapse_flush()"));
});

Deno.test("retract_page_tables() with the recheck (v6.6+): safe against uffd-wp", () => {
  const r = explore(retractVersusUffd({ racer: "uffd_wp" }));
  assert.equal(r.verdict, "safe");
  assert.match(r.message, /all \d+ interleavings safe/);
});

Deno.test("retract_page_tables() vs UFFDIO_COPY: the anon_vma recheck is what keeps the PTE", async (t) => {
  await t.step("without it: Bad rss-counter state", () => {
    const r = explore(retractVersusUffd({ racer: "uffdio_copy", recheck: false }));
    assert.equal(r.verdict, "counterexample");
    if (r.verdict !== "counterexample") return;
    assert.equal(
      r.trace.failure.message,
      "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1",
    );
  });
  await t.step("with it: safe", () => {
    assert.equal(explore(retractVersusUffd({ racer: "uffdio_copy" })).verdict, "safe");
  });
});

Deno.test("the khugepaged scenarios take their locks in the documented order (no deadlock)", () => {
  for (
    const sc of [
      collapseVersusUffdCopy(),
      retractVersusUffd(),
      retractVersusUffd({ racer: "uffdio_copy" }),
    ]
  ) {
    const r = explore(sc);
    assert.equal(r.verdict, "safe", r.message);
  }
});

Deno.test("pte_free() at once lets a lockless walker read a freed table; pte_free_defer() does not", () => {
  const now = explore(retractVersusLocklessWalk({ deferred: false }));
  assert.equal(now.verdict, "counterexample");
  if (now.verdict !== "counterexample") return;
  assert.match(now.trace.failure.message, /use after free: ptep_get\(\) read PTE table 1/);
  assert.deepEqual(
    now.trace.steps.map((s) => `${s.thread}: ${s.label}`).filter((l) =>
      /pmdp_get_lockless|pmdp_collapse_flush|pte_free|ptep_get/.test(l)
    ),
    [
      "walker: pmdp_get_lockless()",
      "retract: pmdp_collapse_flush()",
      "retract: pte_free()",
      "walker: ptep_get() (lockless)",
    ],
  );
  assert.equal(explore(retractVersusLocklessWalk()).verdict, "safe");
});

Deno.test("timelineText() of Jann Horn's race (the lesson's figure) matches its snapshot", async (t) => {
  const r = explore(collapseVersusUffdCopy({ variant: "pre-a98460494b16" }));
  if (r.verdict !== "counterexample") throw new Error(r.message);
  await t.assertSnapshot(timelineText(r.trace));
});
