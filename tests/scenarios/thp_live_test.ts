/**
 * MADV_COLLAPSE on the model against this host's kernel (the oracle): the
 * same sequence on a simulated process configured with the host's THP
 * knobs and on the Deno process itself through the live facade
 * (lib/live/process.ts), compared on the errno, whether the 512 pages end up
 * in one aligned run of frames, the pagemap flags and the bytes read back.
 *
 * Where the host cannot run live (not Linux, no FFI, no THP sysfs), the
 * live part says so and why and passes; the model part always runs.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { Errno } from "../../lib/kernel/errno.ts";
import { ffiStatus } from "../../lib/live/libc.ts";
import { LiveProcess } from "../../lib/live/process.ts";
import { hostModelConfig, hostModelThp } from "../../lib/live/normalize.ts";

const P = C.PAGE_SIZE;
const PMD = C.PMD_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** The calls a scenario makes, shared by Process and LiveProcess. */
interface Proc {
  mmap(addr: number, len: number, prot: number, flags: number): number;
  munmap(addr: number, len: number): 0;
  mprotect(addr: number, len: number, prot: number): 0;
  madvise(addr: number, len: number, advice: number): 0;
  read(addr: number): number;
  write(addr: number, data: number): void;
  pagemap(addr: number): { present: boolean; exclusive: boolean; pfn: number | null };
}

/** What a scenario observed. */
interface Seen {
  collapse: string;
  /** The 512 pages map one 2 MiB-aligned run of frames. */
  oneRun: boolean;
  present: boolean;
  exclusive: boolean;
  bytes: number[];
}

/** A 2 MiB-aligned region inside a 4 MiB mapping, so both systems get the same shape. */
function alignedRegion(p: Proc): { base: number; a: number } {
  const base = p.mmap(0, 2 * PMD, RW, ANON);
  return { base, a: Math.ceil(base / PMD) * PMD };
}

function collapse(p: Proc, a: number): string {
  // A THP allocation can fail for a moment on a busy host (ENOMEM, EAGAIN):
  // the kernel's own selftest retries too.
  for (let tries = 0;; tries++) {
    try {
      p.madvise(a, PMD, C.MADV_COLLAPSE);
      return "ok";
    } catch (e) {
      if (!(e instanceof Errno)) throw e;
      if ((e.errno === "EAGAIN" || e.errno === "ENOMEM") && tries < 5) continue;
      return e.errno;
    }
  }
}

function observe(p: Proc, a: number, result: string, pages: number[]): Seen {
  const first = p.pagemap(a);
  let oneRun = first.pfn !== null && first.pfn % 512 === 0;
  for (const i of [1, 255, 511]) oneRun &&= p.pagemap(a + i * P).pfn === first.pfn! + i;
  return {
    collapse: result,
    oneRun,
    present: first.present,
    exclusive: first.exclusive,
    bytes: pages.map((i) => p.read(a + i * P)),
  };
}

const SCENARIOS: Record<string, (p: Proc) => Seen> = {
  "collapse_full: 512 written pages": (p) => {
    const { base, a } = alignedRegion(p);
    for (let i = 0; i < 512; i++) p.write(a + i * P, (i % 250) + 1);
    const seen = observe(p, a, collapse(p, a), [0, 7, 511]);
    p.munmap(base, 2 * PMD);
    return seen;
  },
  "collapse_single_pte_entry: one written page": (p) => {
    const { base, a } = alignedRegion(p);
    p.write(a + 3 * P, 9);
    const seen = observe(p, a, collapse(p, a), [3, 4]);
    p.munmap(base, 2 * PMD);
    return seen;
  },
  "read-only PTEs (mprotect PROT_READ)": (p) => {
    const { base, a } = alignedRegion(p);
    for (let i = 0; i < 512; i++) p.write(a + i * P, 1);
    p.mprotect(a, PMD, C.PROT_READ);
    const result = collapse(p, a);
    p.mprotect(a, PMD, RW);
    const seen = observe(p, a, result, [0]);
    p.munmap(base, 2 * PMD);
    return seen;
  },
  "collapse_empty: nothing mapped": (p) => {
    const { base, a } = alignedRegion(p);
    const result = collapse(p, a);
    p.munmap(base, 2 * PMD);
    return { collapse: result, oneRun: false, present: false, exclusive: false, bytes: [] };
  },
};

/** Why this host cannot run the live half, or null. */
function liveUnavailable(): string | null {
  if (Deno.build.os !== "linux") return `the host OS is ${Deno.build.os}, not Linux`;
  const ffi = ffiStatus();
  if (!ffi.usable) return ffi.reason;
  try {
    Deno.statSync("/sys/kernel/mm/transparent_hugepage/enabled");
  } catch {
    return "no /sys/kernel/mm/transparent_hugepage on this host";
  }
  return null;
}

function modelRun(name: string): Seen {
  const host = hostModelConfig();
  const k = simulate({ config: "config" in host ? host.config : {}, thp: hostModelThp() });
  const seen = SCENARIOS[name](k.spawn());
  k.check();
  return seen;
}

Deno.test("MADV_COLLAPSE scenarios run on the model with their expected outcomes", () => {
  assert.deepEqual(
    Object.keys(SCENARIOS).map((name) => [name, modelRun(name).collapse]),
    [
      ["collapse_full: 512 written pages", "ok"],
      ["collapse_single_pte_entry: one written page", "ok"],
      ["read-only PTEs (mprotect PROT_READ)", "ok"],
      ["collapse_empty: nothing mapped", "EINVAL"],
    ],
  );
});

Deno.test("MADV_COLLAPSE: the model agrees with this kernel", async (t) => {
  const reason = liveUnavailable();
  if (reason !== null) {
    console.log(`live half not run: ${reason}`);
    return;
  }
  const live = new LiveProcess();
  for (const name of Object.keys(SCENARIOS)) {
    await t.step(name, () => {
      assert.deepEqual(modelRun(name), SCENARIOS[name](live));
    });
  }
});
