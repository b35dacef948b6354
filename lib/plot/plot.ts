/**
 * Observable Plot, rendered headless.
 *
 * `plot(options)` is `Plot.plot(options)` with the jsdom document supplied,
 * returning a {@linkcode Figure} that the Deno kernel displays inline. Build
 * marks with the `Plot` namespace re-exported here, exactly as in Plot's own
 * documentation; only the final call differs: `plot({...})`, not
 * `Plot.plot({...})`, which would look for a browser `document` and fail.
 *
 * ```ts
 * import { plot, Plot } from "mm-lab";
 * plot({ marks: [Plot.dot(rows, { x: "pages", y: "seconds" })] });
 * ```
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { headlessDocument } from "./dom.ts";
import { Figure } from "./figure.ts";

export { Plot };

/** Plot's options, without `document` (the headless one is supplied). */
export type PlotOptions = Omit<Plot.PlotOptions, "document">;

/** Render a chart with Observable Plot on the headless document. */
export function plot(options: PlotOptions = {}): Figure {
  const element = Plot.plot({ ...options, document: headlessDocument() });
  return new Figure(element, { text: plainText(options) });
}

/** The plain-text alternative of a chart: its title or caption when they are
 * text, else a generic description. */
function plainText(options: PlotOptions): string {
  const words = [options.title, options.subtitle, options.caption]
    .filter((part): part is string => typeof part === "string");
  return words.length > 0 ? `Plot: ${words.join(" — ")}` : "Plot figure";
}
