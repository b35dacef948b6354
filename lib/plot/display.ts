/**
 * How lib objects show themselves in a notebook.
 *
 * The Deno Jupyter kernel formats a cell's value by first looking for a
 * method under `Symbol.for("Jupyter.display")`; when there is one, the MIME
 * bundle it returns is sent to the front end as is (see `format()` in Deno's
 * `40_jupyter.js`). Outside the kernel that method is an ordinary method, so
 * the same objects work headless: tests call it to read the bundle.
 *
 * @module
 */

/** The key the Deno kernel looks up to display an object (`Deno.jupyter.$display`). */
export const $display: unique symbol = Symbol.for("Jupyter.display");

/** A Jupyter MIME bundle: media type → data (text, or a JSON object). */
export type MediaBundle = Record<string, string | object>;

/** An object that the Deno kernel displays through {@linkcode $display}. */
export interface Displayable {
  [$display](): MediaBundle;
}

/** True when `value` has a display method the kernel would use. */
export function isDisplayable(value: unknown): value is Displayable {
  return typeof value === "object" && value !== null &&
    typeof (value as Record<symbol, unknown>)[$display] === "function";
}

/** The `Deno.jupyter` namespace when running inside `deno jupyter`, else
 * `undefined` (outside the kernel, reading `Deno.jupyter` throws). */
function jupyterNamespace():
  | { display(obj: unknown, options?: { raw?: boolean }): Promise<void> }
  | undefined {
  try {
    return (Deno as unknown as { jupyter?: ReturnType<typeof jupyterNamespace> }).jupyter;
  } catch {
    return undefined;
  }
}

/** True inside `deno jupyter` (a notebook kernel). */
export function inJupyter(): boolean {
  return jupyterNamespace() !== undefined;
}

/**
 * Send a bundle to the notebook now, as a side output of the running cell,
 * and report whether there was a notebook to send it to.
 *
 * Used when a value must be shown even though the cell then throws (a failed
 * exercise check). Headless (no kernel) this does nothing and returns false.
 */
export function displayNow(bundle: MediaBundle): boolean {
  const jupyter = jupyterNamespace();
  if (jupyter === undefined) return false;
  // raw: the argument already is a MIME bundle. The promise only settles after
  // the message is sent; a failure to send must not become an unhandled rejection.
  jupyter.display(bundle, { raw: true }).catch(() => {});
  return true;
}
