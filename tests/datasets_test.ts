/**
 * Every file in datasets/ has a registered schema and validates against it;
 * every registered schema documents its fields and lives where the README
 * says (lib/datasets/schemas/<file stem>.ts).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  DATASETS,
  DATASETS_DIR,
  describeDataset,
  loadDataset,
  type Provenance,
} from "../lib/datasets/mod.ts";

const SEEDS_DIR = new URL("../../shared/seeds/", import.meta.url);
const SCHEMAS_DIR = new URL("../lib/datasets/schemas/", import.meta.url);

/** Data files in datasets/: everything but the README and hidden files (a
 * writer's temporary file while it renames into place). */
function dataFiles(): string[] {
  return [...Deno.readDirSync(DATASETS_DIR)]
    .filter((entry) => entry.isFile && !entry.name.startsWith(".") && entry.name !== "README.md")
    .map((entry) => entry.name)
    .sort();
}

function exists(url: URL): boolean {
  try {
    Deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

Deno.test("every file in datasets/ has a schema and validates against it", async (t) => {
  for (const name of dataFiles()) {
    await t.step(name, () => {
      assert.ok(
        Object.hasOwn(DATASETS, name),
        `datasets/${name} has no schema: add lib/datasets/schemas/${
          name.replace(/\.[^.]+$/, "")
        }.ts ` +
          `and a line in lib/datasets/registry.ts`,
      );
      loadDataset(name);
    });
  }
});

Deno.test("a dataset quoted from a thread names a seed file that exists", {
  ignore: !exists(SEEDS_DIR),
}, async (t) => {
  for (const name of dataFiles().filter((n) => Object.hasOwn(DATASETS, n))) {
    const { provenance } = loadDataset(name) as { provenance: Provenance };
    if (provenance.kind !== "quoted") continue;
    await t.step(name, () => {
      assert.ok(
        exists(new URL(provenance.seed, SEEDS_DIR)),
        `datasets/${name}: provenance.seed: no such file in ../shared/seeds/, got ${
          JSON.stringify(provenance.seed)
        }`,
      );
    });
  }
});

Deno.test("every registered schema sits in lib/datasets/schemas/<file stem>.ts", async (t) => {
  for (const name of Object.keys(DATASETS)) {
    await t.step(name, () => {
      const stem = name.replace(/\.[^.]+$/, "");
      assert.ok(
        exists(new URL(`${stem}.ts`, SCHEMAS_DIR)),
        `no lib/datasets/schemas/${stem}.ts for ${name}`,
      );
    });
  }
});

Deno.test("every field of every registered dataset says its units and meaning", async (t) => {
  for (const name of Object.keys(DATASETS)) {
    await t.step(name, () => {
      const undocumented = describeDataset(name).filter((f) => f.description.trim() === "");
      assert.deepEqual(undocumented.map((f) => f.field), [], `${name}: fields without .describe()`);
      const schema = DATASETS[name as keyof typeof DATASETS] as z.ZodType;
      assert.ok(schema.description, `${name}: the schema itself has no .describe()`);
    });
  }
});
