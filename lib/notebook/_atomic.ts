/**
 * Atomic file writes: a reader of `out/` never sees half a file.
 * @module
 */
import { basename, dirname, join } from "node:path";

/** A temporary name beside `path`, on the same file system so rename works. */
export function temporaryPath(path: string): string {
  const nonce = crypto.randomUUID().slice(0, 8);
  return join(dirname(path), `.${basename(path)}.${Deno.pid}-${nonce}.tmp`);
}

/** Writes `text` to `path` through a temporary file and a rename. */
export async function writeTextFileAtomic(path: string, text: string): Promise<void> {
  const temporary = temporaryPath(path);
  try {
    await Deno.writeTextFile(temporary, text);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Removes `path` if it exists. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
