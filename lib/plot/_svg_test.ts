import assert from "node:assert/strict";
import { el, escapeXml, hex, num, svgRoot, text } from "./_svg.ts";

Deno.test("escapeXml() escapes markup characters and quotes", () => {
  assert.equal(escapeXml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
});

Deno.test("num() rounds to two decimals and drops -0", () => {
  assert.deepEqual([num(334.99999999999994), num(1.005), num(-0.001), num(12)], [
    "335",
    "1",
    "0",
    "12",
  ]);
});

Deno.test("num() rejects a non-finite coordinate, quoting it", () => {
  assert.throws(() => num(NaN), /must be finite, got NaN/);
});

Deno.test("el() omits undefined attributes and self-closes empty elements", () => {
  assert.equal(el("rect", { x: 1.234, y: undefined, fill: "red" }), `<rect x="1.23" fill="red"/>`);
});

Deno.test("text() escapes its content", () => {
  assert.equal(text("a<b", { x: 0 }), `<text x="0">a&lt;b</text>`);
});

Deno.test("svgRoot() declares the SVG namespace and a title", () => {
  const svg = svgRoot(10, 20, [], { title: "t & u" });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="10" height="20"/);
  assert.match(svg, /<title>t &amp; u<\/title>/);
});

Deno.test("hex() pads to the requested digits", () => {
  assert.deepEqual([hex(0x1a), hex(0x1an, 4), hex(0)], ["0x1a", "0x001a", "0x0"]);
});
