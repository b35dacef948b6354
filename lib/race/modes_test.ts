import assert from "node:assert/strict";
import { $display } from "../plot/display.ts";
import { exploreModes } from "./modes.ts";
import { independent, lostUpdate } from "./textbook.ts";

Deno.test("exploreModes() tabulates what each reduction saves on independent threads", () => {
  const table = exploreModes(independent(3, 3));
  assert.equal(
    table.text,
    [
      "3 independent threads × 3 steps",
      "mode                        verdict  interleavings  states  transitions",
      "--------------------------  -------  -------------  ------  -----------",
      "naive                       safe     1680           5248    5247",
      "state hashing               safe     1680           64      144",
      "state hashing + sleep sets  safe     1              64      63",
    ].join("\n"),
  );
  assert.match(table[$display]()["text/html"] as string, /^<table><caption>3 independent/);
});

Deno.test("exploreModes() gives every mode the same shortest counterexample", () => {
  const table = exploreModes(lostUpdate());
  assert.deepEqual(table.rows.map((r) => [r.verdict, r.counterexample]), [
    ["counterexample", 4],
    ["counterexample", 4],
    ["counterexample", 4],
  ]);
});
