import assert from "node:assert/strict";
import { SpinLock } from "../kernel/locking.ts";
import { structuralHash } from "./hash.ts";

Deno.test("structuralHash() ignores key order and tells values and types apart", () => {
  assert.equal(structuralHash({ a: 1, b: [2, 3] }), structuralHash({ b: [2, 3], a: 1 }));
  assert.notEqual(structuralHash({ a: 1 }), structuralHash({ a: "1" }));
  assert.notEqual(structuralHash({ a: 1n }), structuralHash({ a: 1 }));
  assert.notEqual(structuralHash([1, [2]]), structuralHash([[1], 2]));
  assert.notEqual(structuralHash({ a: undefined }), structuralHash({}));
  assert.notEqual(structuralHash(new Map([[1, 2]])), structuralHash(new Set([1, 2])));
  assert.notEqual(structuralHash(new Uint8Array([1, 2])), structuralHash([1, 2]));
});

Deno.test("structuralHash() writes a SpinLock's holder, so held and free locks differ", () => {
  const lock = new SpinLock("ptl");
  const free = structuralHash({ lock });
  lock.lock("T0");
  assert.equal(
    structuralHash({ lock }),
    '{"lock":SpinLock{"holder":"T0","name":"ptl"}}',
  );
  assert.notEqual(structuralHash({ lock }), free);
});

Deno.test("structuralHash() rejects functions and cycles, naming where", () => {
  assert.throws(() => structuralHash({ f: () => 0 }), /state\.f: a function/);
  const o: Record<string, unknown> = {};
  o.self = o;
  assert.throws(() => structuralHash(o), /state\.self: a cycle/);
  // A shared (not cyclic) object is fine.
  const shared = { x: 1 };
  assert.equal(structuralHash({ a: shared, b: shared }), '{"a":{"x":n1},"b":{"x":n1}}');
});
