/**
 * Figures: what the plot and diagram helpers return.
 *
 * A figure is displayed inline by the Deno Jupyter kernel (through
 * {@linkcode $display}) and also hands out its markup, for tests, snapshots
 * and the HTML export. Every figure is sent as `text/html`, and an SVG root
 * also as `image/svg+xml`: nbconvert's HTML export prefers `text/html`, and
 * its template would strip the elements out of an `image/svg+xml` output.
 * Both carry a `text/plain` alternative, which is what a reader sees in a
 * plain-text export and what a terminal prints.
 *
 * @module
 */
import { $display, type Displayable, type MediaBundle } from "./display.ts";
import { SVG_NS } from "./_svg.ts";

/** Options for {@linkcode Figure}. */
export interface FigureOptions {
  /** The plain-text form of the figure (a table, a caption). */
  text?: string;
}

/** A rendered figure: SVG markup, or an element rendered on a DOM. */
export class Figure implements Displayable {
  readonly #markup: string | undefined;
  readonly #element: Element | undefined;
  /** The plain-text alternative shown where images cannot be. */
  readonly text: string;

  /**
   * Wrap SVG markup (a string starting with `<svg`) or a rendered element.
   * An element's root `<svg>` elements get the SVG namespace attribute so that
   * its markup also renders as a standalone image.
   */
  constructor(source: string | Element, options: FigureOptions = {}) {
    if (typeof source === "string") {
      if (!source.startsWith("<svg")) {
        throw new TypeError(
          `Figure markup must start with "<svg", got ${JSON.stringify(source.slice(0, 40))}`,
        );
      }
      this.#markup = source;
    } else {
      this.#element = source;
      for (const svg of svgElements(source)) svg.setAttribute("xmlns", SVG_NS);
    }
    this.text = options.text ?? `Figure (${this.mediaType})`;
  }

  /** The rendered element, when the figure was rendered on a DOM. */
  get element(): Element | undefined {
    return this.#element;
  }

  /** The figure's full markup. */
  get outerHTML(): string {
    return this.#markup ?? this.#element!.outerHTML;
  }

  /** The markup of the figure's SVG: the whole figure when its root is an
   * `<svg>`, else the first `<svg>` inside it (the chart without its legend). */
  get svg(): string {
    if (this.#markup !== undefined) return this.#markup;
    const svg = svgElements(this.#element!)[0];
    if (svg === undefined) throw new TypeError(`Figure has no <svg> element: ${this.text}`);
    return svg.outerHTML;
  }

  /** `image/svg+xml` for an SVG root, `text/html` otherwise. */
  get mediaType(): "image/svg+xml" | "text/html" {
    return this.outerHTML.startsWith("<svg") ? "image/svg+xml" : "text/html";
  }

  /** The MIME bundle the Deno kernel displays. */
  [$display](): MediaBundle {
    const bundle: MediaBundle = { "text/html": this.outerHTML, "text/plain": this.text };
    if (this.mediaType === "image/svg+xml") bundle["image/svg+xml"] = this.outerHTML;
    return bundle;
  }

  /** The markup, so that a figure can be spliced into an HTML page. */
  toString(): string {
    return this.outerHTML;
  }

  /** What `console.log(figure)` prints: the plain-text form. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.text;
  }
}

/** The root element itself if it is an `<svg>`, then every `<svg>` inside it. */
function svgElements(root: Element): Element[] {
  const inner = [...root.querySelectorAll("svg")];
  return root.localName === "svg" ? [root, ...inner] : inner;
}
