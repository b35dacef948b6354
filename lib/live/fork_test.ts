import assert from "node:assert/strict";
import * as C from "../kernel/constants.ts";
import { liveTestsEnabled } from "./_testing.ts";
import { machineCodeUnavailable } from "./machine_code.ts";
import { LiveProcess } from "./process.ts";
import { outcomesAgree, runLiveScenarios, runModelScenarios } from "./differential.ts";
import { hostModelConfig } from "./normalize.ts";
import type { ScenarioOp } from "./scenario.ts";

const ignore = !liveTestsEnabled() || machineCodeUnavailable() !== null;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

const alive = (pid: number) => {
  try {
    // A reaped child has no /proc entry; a zombie's state is Z.
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).split(" ")[2].startsWith("Z");
  } catch {
    return false;
  }
};

Deno.test("fork(): the parked child shares the parent's pages until a write copies one", {
  ignore,
}, () => {
  using p = new LiveProcess();
  const a = p.mmap(0, 2 * C.PAGE_SIZE, RW, ANON);
  try {
    p.write(a, 1);
    p.write(a + C.PAGE_SIZE, 2);
    assert.equal(p.pagemap(a).exclusive, true);
    const child = p.fork();
    assert.ok(alive(child.pid));
    // copy_page_range(): both pages are mapped by two processes now.
    assert.deepEqual([p.pagemap(a).exclusive, p.pagemap(a + C.PAGE_SIZE).exclusive], [
      false,
      false,
    ]);
    const before = p.pagemap(a).pfn;
    p.write(a, 3); // do_wp_page(): the folio is shared, so the parent gets a copy
    assert.equal(p.pagemap(a).exclusive, true);
    assert.notEqual(p.pagemap(a).pfn, before);
    assert.equal(p.read(a), 3);
    assert.equal(p.pagemap(a + C.PAGE_SIZE).exclusive, false);
    assert.equal(child.exit(), 0);
    assert.equal(alive(child.pid), false, "exit() kills and reaps the child");
    assert.equal(child.exit(), 0, "exit() again does nothing");
  } finally {
    p.munmap(a, 2 * C.PAGE_SIZE);
  }
});

Deno.test("fork(): the parked child dies with its parent (PR_SET_PDEATHSIG)", {
  ignore,
}, async () => {
  const lib = new URL("./", import.meta.url).href;
  const source = `
    import { forkParked } from "${lib}fork.ts";
    console.log(forkParked().pid);`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", source] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  assert.ok(pid > 0);
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(alive(pid), false);
});

Deno.test("a scenario with fork agrees between the model and this kernel", {
  ignore,
}, async () => {
  const host = hostModelConfig();
  assert.ok("config" in host);
  const ops: ScenarioOp[] = [
    { op: "mmap", args: [0, 3 * C.PAGE_SIZE, RW, ANON, -1, 0] },
    { op: "write", args: [{ m: 0 }, 1] },
    { op: "read", args: [{ m: 0, page: 1 }] },
    { op: "fork", args: [] },
    { op: "pagemap", args: [{ m: 0 }, 3] },
    { op: "write", args: [{ m: 0 }, 2] },
    { op: "pagemap", args: [{ m: 0 }, 3] },
  ];
  const [model] = runModelScenarios([ops], host.config);
  const [live] = (await runLiveScenarios([ops], { parallel: 1 })).outcomes;
  assert.ok(outcomesAgree(model, live), JSON.stringify({ model, live }));
  const flags = (o: (typeof model)[number]) =>
    "ok" in o && Array.isArray(o.ok)
      ? (o.ok as { present: boolean; exclusive: boolean }[]).map((e) =>
        e.present ? (e.exclusive ? "excl" : "shared") : "none"
      )
      : o;
  // The zero page at page 1 is not exclusive before or after; page 0 is shared, then copied.
  assert.deepEqual(flags(model[4]), ["shared", "shared", "none"]);
  assert.deepEqual(flags(model[6]), ["excl", "shared", "none"]);
});
