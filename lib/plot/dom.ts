/**
 * A `document` for rendering without a browser.
 *
 * Observable Plot builds its charts with DOM calls on the document it is
 * given. In a notebook on the Deno kernel, and in tests, there is no browser
 * document, so the lib supplies one from jsdom. It is created on first use
 * and shared afterwards.
 *
 * jsdom is loaded on that first use too, through `require`, not by a static
 * import: loading it takes about a quarter of a second and reads the
 * environment, and most importers of the lib (the simulator's tests, lessons
 * that draw only the SVG diagrams) never render a chart.
 *
 * @module
 */
import { createRequire } from "node:module";

/** The part of jsdom used here. */
interface JsdomModule {
  JSDOM: new (html: string) => { window: { document: Document } };
}

let shared: Document | undefined;

/** The shared jsdom document used for headless rendering (created once). */
export function headlessDocument(): Document {
  if (shared === undefined) {
    const require = createRequire(import.meta.url);
    const { JSDOM } = require("jsdom") as JsdomModule;
    shared = new JSDOM("<!DOCTYPE html><html><head></head><body></body></html>").window.document;
  }
  return shared;
}
