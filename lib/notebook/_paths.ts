/**
 * Where things are in the repository.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is lib/notebook/_paths.ts). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Where lessons live. */
export const NOTEBOOKS_DIR = join(REPO_ROOT, "notebooks");
