import assert from "node:assert/strict";
import { $display } from "./display.ts";
import { Plot, plot } from "./plot.ts";

Deno.test("plot() renders headless and returns an SVG figure", () => {
  const figure = plot({ marks: [Plot.dot([{ x: 1, y: 2 }], { x: "x", y: "y" })] });
  assert.equal(figure.mediaType, "image/svg+xml");
  assert.match(figure.svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(figure.svg, /<circle /);
  assert.equal(figure[$display]()["text/plain"], "Plot figure");
});

Deno.test("plot() with a title returns an HTML figure whose text is the title", () => {
  const figure = plot({ title: "faults", marks: [Plot.lineY([1, 2, 3])] });
  assert.equal(figure.mediaType, "text/html");
  assert.match(figure.outerHTML, /^<figure/);
  assert.equal(figure.text, "Plot: faults");
});
