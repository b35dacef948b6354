import assert from "node:assert/strict";
import { DEFAULT_VARIANTS, makeVariants } from "./core.ts";
import { simulate } from "../kernel/kernel.ts";

Deno.test("makeVariants() defaults to v6.18 as released", () => {
  assert.deepEqual(makeVariants(), DEFAULT_VARIANTS);
  assert.equal(simulate().core.variants.silentPoison, false);
  assert.equal(simulate({ variants: { silentPoison: true } }).core.variants.silentPoison, true);
});

Deno.test("makeVariants() rejects unknown names and non-boolean switches", () => {
  assert.throws(
    () => makeVariants({ loudPoison: true } as never),
    /unknown kernel variant "loudPoison"/,
  );
  assert.throws(() => makeVariants({ silentPoison: 1 } as never), TypeError);
  assert.throws(() => makeVariants(null as never), TypeError);
});
