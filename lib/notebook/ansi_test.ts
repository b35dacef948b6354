import assert from "node:assert/strict";
import { stripAnsi } from "./ansi.ts";

Deno.test("stripAnsi() removes the Deno kernel's colour codes", () => {
  assert.equal(stripAnsi('\x1b[32m"installed"\x1b[39m'), '"installed"');
  assert.equal(stripAnsi("\x1b[0m\x1b[33mWarning\x1b[0m unstable"), "Warning unstable");
  assert.equal(stripAnsi("\x1b[1;31mError\x1b[22;39m: boom"), "Error: boom");
});

Deno.test("stripAnsi() removes OSC hyperlinks and keeps their text", () => {
  assert.equal(stripAnsi("\x1b]8;;file:///x.ts\x07x.ts\x1b]8;;\x07"), "x.ts");
});

Deno.test("stripAnsi() leaves plain text alone", () => {
  assert.equal(stripAnsi("Promise { <rejected> Error: a }"), "Promise { <rejected> Error: a }");
});
