/**
 * Arguments as C passes them: a negative number given for an unsigned long
 * is 2^64 plus it. Near 2^64 not every integer is a double, yet the kernel's
 * alignment checks must still see an unaligned value as unaligned
 * (checked against Linux 6.18, where mprotect((void *)-1, ...) is EINVAL).
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;

Deno.test("a negative address just below 2^64 keeps its page offset", async (t) => {
  const p = simulate().spawn();
  for (const addr of [-1, -2, -2047, -2049, -4095, -(P + 1), -(2 ** 20 + 3)]) {
    await t.step(`mprotect(${addr}) is EINVAL: unaligned`, () => {
      assert.equal(errnoOf(() => p.mprotect(addr, P, C.PROT_READ)), "EINVAL");
    });
  }
  await t.step("an aligned negative address stays aligned", () => {
    assert.equal(errnoOf(() => p.mprotect(-2 * P, P, C.PROT_READ)), "ENOMEM");
  });
});
