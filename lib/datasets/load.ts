/**
 * Loading dataset files: read, parse, validate against the registered
 * schema, once per file.
 *
 * A file that does not match its schema is an error that names the file,
 * the row, the field and the offending value, e.g.
 * `datasets/faults_sim_vs_kernel.json: rows[3].seconds: expected number, got "fast"`.
 *
 * @module
 */
import type { z } from "zod";
import { type DatasetName, DATASETS } from "./registry.ts";

/** The datasets/ directory at the repository root. */
export const DATASETS_DIR: URL = new URL("../../datasets/", import.meta.url);

/** What one issue says: where, what was wrong, and the value found there. */
export interface DatasetIssue {
  /** Path of the field, e.g. `rows[3].seconds`. */
  path: string;
  /** What was expected, with the value quoted. */
  message: string;
  /** The value found at `path` (undefined when missing). */
  value: unknown;
}

/** A dataset file that cannot be read, parsed or validated. */
export class DatasetError extends Error {
  /** The file, as shown in messages (`datasets/<name>`). */
  readonly file: string;
  /** The schema issues, first one first; empty for read and JSON errors. */
  readonly issues: readonly DatasetIssue[];

  constructor(file: string, message: string, issues: readonly DatasetIssue[] = []) {
    super(message);
    this.name = "DatasetError";
    this.file = file;
    this.issues = issues;
  }
}

/** How many issues an error message lists before summing up the rest. */
const MAX_LISTED = 10;

/** A path as a reader writes it in JavaScript: `rows[3].machine.cpu`, `thp["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) {
      out += out === "" ? key : `.${key}`;
    } else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === "" ? "(top level)" : out;
}

/** A value quoted for a message: JSON, cut short. */
function quote(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "bigint") return `${value}n`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 60 ? text : `${text.slice(0, 59)}…`;
}

/** The value at `path` in `data`, or undefined when the path does not exist. */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Zod type names as a reader of the message expects them. */
const TYPE_NAMES: Record<string, string> = { int: "integer" };

/** One zod issue as issues with a path, a message that quotes the value, and the value. */
function describeIssue(issue: z.core.$ZodIssue, data: unknown): DatasetIssue[] {
  const value = valueAt(data, issue.path);
  const at = (message: string, path = issue.path, found = value): DatasetIssue => ({
    path: formatPath(path),
    message,
    value: found,
  });
  switch (issue.code) {
    case "invalid_type": {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return [
        at(
          value === undefined
            ? `missing (expected ${expected})`
            : `expected ${expected}, got ${quote(value)}`,
        ),
      ];
    }
    case "invalid_value":
      return [at(`expected ${issue.values.map(quote).join(" | ")}, got ${quote(value)}`)];
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const path = [...issue.path, key];
        const found = valueAt(data, path);
        return at(`unknown field (not in the schema), got ${quote(found)}`, path, found);
      });
    case "invalid_union": {
      const options = (issue as { options?: unknown[] }).options;
      if (options !== undefined) {
        return [at(`expected ${options.map(quote).join(" | ")}, got ${quote(value)}`)];
      }
      return [at(`${issue.message}, got ${quote(value)}`)];
    }
    case "too_small":
    case "too_big": {
      const sign = issue.code === "too_small"
        ? (issue.inclusive ? ">=" : ">")
        : (issue.inclusive ? "<=" : "<");
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const measure = Array.isArray(value) || typeof value === "string" ? "length " : "";
      return [at(`expected ${measure}${sign} ${bound}, got ${quote(value)}`)];
    }
    default:
      return [at(`${issue.message}, got ${quote(value)}`)];
  }
}

/** The error for a value that failed `schema`, listing the first issues. */
function validationError(file: string, error: z.ZodError, data: unknown): DatasetError {
  const issues = error.issues.flatMap((issue) => describeIssue(issue, data));
  const lines = issues.slice(0, MAX_LISTED).map((i) => `${file}: ${i.path}: ${i.message}`);
  if (issues.length > MAX_LISTED) {
    lines.push(`${file}: … and ${issues.length - MAX_LISTED} more issues`);
  }
  return new DatasetError(file, lines.join("\n"), issues);
}

/** The registered schema of `name`, or an error naming the registered ones. */
export function schemaOf<N extends DatasetName>(name: N): (typeof DATASETS)[N];
export function schemaOf(name: string): z.ZodType;
export function schemaOf(name: string): z.ZodType {
  if (!Object.hasOwn(DATASETS, name)) {
    throw new DatasetError(
      `datasets/${name}`,
      `datasets/${name}: no schema registered for ${JSON.stringify(name)} ` +
        `(registered: ${Object.keys(DATASETS).join(", ")}); add one in lib/datasets/schemas/ ` +
        `and a line in lib/datasets/registry.ts`,
    );
  }
  return DATASETS[name as DatasetName];
}

/** The parsed content of a dataset, typed by its schema. */
export type DatasetOf<N extends DatasetName> = z.infer<(typeof DATASETS)[N]>;

/**
 * Parse and validate the text of dataset `name` (no file access). `file` is
 * how the file is named in errors.
 */
export function parseDataset<N extends DatasetName>(
  name: N,
  text: string,
  file?: string,
): DatasetOf<N>;
export function parseDataset(name: string, text: string, file?: string): unknown;
export function parseDataset(name: string, text: string, file = `datasets/${name}`): unknown {
  const schema = schemaOf(name);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DatasetError(file, `${file}: not valid JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(data);
  if (!result.success) throw validationError(file, result.error, data);
  return deepFreeze(result.data);
}

/** Freeze a parsed dataset, so that the cached copy shared by all callers stays as read. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const cache = new Map<string, unknown>();

/** Options for {@linkcode loadDataset}. */
export interface LoadOptions {
  /** Directory to read from instead of datasets/ (for tests). */
  dir?: URL;
}

/**
 * Read, validate and return dataset `name` (a file name in datasets/, e.g.
 * "sim_memory.json"). The file is read once; later calls return the same
 * frozen object. Needs read permission for datasets/.
 */
export function loadDataset<N extends DatasetName>(name: N, options?: LoadOptions): DatasetOf<N>;
export function loadDataset(name: string, options?: LoadOptions): unknown;
export function loadDataset(name: string, options: LoadOptions = {}): unknown {
  schemaOf(name);
  const url = new URL(name, options.dir ?? DATASETS_DIR);
  const file = options.dir === undefined ? `datasets/${name}` : decodeURIComponent(url.pathname);
  if (cache.has(url.href)) return cache.get(url.href);
  let text: string;
  try {
    text = Deno.readTextFileSync(url);
  } catch (error) {
    throw new DatasetError(
      file,
      `${file}: cannot read (${(error as Error).name}: ${(error as Error).message})`,
    );
  }
  const data = parseDataset(name, text, file);
  cache.set(url.href, data);
  return data;
}

/** One field of a dataset's rows, for a table in a lesson or the README. */
export interface FieldDoc {
  field: string;
  description: string;
}

/** The fields of dataset `name`'s rows with their units and meaning. */
export function describeDataset(name: string): FieldDoc[] {
  const schema = schemaOf(name) as unknown as {
    shape: { rows: { element: { shape: Record<string, z.ZodType> } } };
  };
  return Object.entries(schema.shape.rows.element.shape).map(([field, s]) => ({
    field,
    description: s.description ?? "",
  }));
}
