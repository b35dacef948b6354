import assert from "node:assert/strict";
import { $display, isDisplayable } from "./display.ts";
import { headlessDocument } from "./dom.ts";
import { Figure } from "./figure.ts";

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>`;

Deno.test("Figure of SVG markup displays as text/html and image/svg+xml with a text alternative", () => {
  const figure = new Figure(SVG, { text: "a dot" });
  assert.ok(isDisplayable(figure));
  assert.deepEqual(figure[$display](), {
    "text/html": SVG,
    "image/svg+xml": SVG,
    "text/plain": "a dot",
  });
  assert.equal(figure.svg, SVG);
  assert.equal(String(figure), SVG);
});

Deno.test("Figure display key is the one the Deno kernel looks up", () => {
  assert.equal($display, Symbol.for("Jupyter.display"));
});

Deno.test("Figure rejects markup that is not SVG, quoting it", () => {
  assert.throws(() => new Figure("<div></div>"), /must start with "<svg", got "<div><\/div>"/);
});

Deno.test("Figure of an HTML element displays as text/html and finds its SVG", () => {
  const document = headlessDocument();
  const figure = document.createElement("figure");
  figure.appendChild(document.createElementNS("http://www.w3.org/2000/svg", "svg"));
  const wrapped = new Figure(figure);
  assert.equal(wrapped.mediaType, "text/html");
  assert.equal(wrapped.svg, `<svg xmlns="http://www.w3.org/2000/svg"></svg>`);
  assert.equal(wrapped.element, figure);
});

Deno.test("headlessDocument() is created once", () => {
  assert.equal(headlessDocument(), headlessDocument());
});

Deno.test("console.log(figure) prints its text form", () => {
  assert.equal(Deno.inspect(new Figure(SVG, { text: "a dot" })), "a dot");
});
