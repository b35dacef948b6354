import assert from "node:assert/strict";
import { join } from "node:path";
import { listLessons, parseArguments, resolveLessons, UsageError } from "./lessons.ts";

async function lessonDir(names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mm-lab-lessons-" });
  for (const name of names) await Deno.writeTextFile(join(dir, name), "{}");
  await Deno.mkdir(join(dir, ".ipynb_checkpoints"));
  return dir;
}

Deno.test("listLessons() lists .ipynb files sorted by name, skipping hidden ones", async () => {
  const dir = await lessonDir(["10_b.ipynb", "00_a.ipynb", "notes.md", ".scratch.ipynb"]);
  try {
    assert.deepEqual(await listLessons(dir), [join(dir, "00_a.ipynb"), join(dir, "10_b.ipynb")]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveLessons() takes lesson names and paths", async () => {
  const dir = await lessonDir(["00_a.ipynb", "10_b.ipynb"]);
  try {
    assert.deepEqual(await resolveLessons([], "/", dir), await listLessons(dir));
    assert.deepEqual(await resolveLessons(["10_b", "./00_a.ipynb"], dir, dir), [
      join(dir, "10_b.ipynb"),
      join(dir, "00_a.ipynb"),
    ]);
    await assert.rejects(
      resolveLessons(["99_x"], dir, dir),
      new UsageError(`no lesson named "99_x" in ${dir} (lessons: 00_a, 10_b)`),
    );
    await assert.rejects(resolveLessons(["x/none.ipynb"], dir, dir), /no notebook at "x\/none/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseArguments() reads lessons, --timeout and --out", () => {
  assert.deepEqual(parseArguments(["00_tour", "--timeout=30", "--out=/tmp/o", "01_x"]), {
    lessons: ["00_tour", "01_x"],
    cellTimeout: 30,
    outDir: "/tmp/o",
    help: false,
  });
  assert.equal(parseArguments(["--help"]).help, true);
  assert.equal(parseArguments(["-h"]).help, true);
  assert.deepEqual(parseArguments(["--", "--timeout=9", "00_tour"]), {
    lessons: ["00_tour"],
    cellTimeout: 9,
    help: false,
  });
});

Deno.test("parseArguments() quotes a bad argument", () => {
  assert.throws(() => parseArguments(["--timeout=soon"]), /"--timeout=soon": the timeout must/);
  assert.throws(() => parseArguments(["--timeout"]), /"--timeout": the timeout must/);
  assert.throws(() => parseArguments(["--fast"]), /unknown option "--fast"/);
});
