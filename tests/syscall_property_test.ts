/**
 * Property: over seeded random sequences of mmap, munmap, mprotect,
 * madvise(MADV_DONTNEED), memfd_create/ftruncate, fork, exit, reads and
 * writes, every kernel invariant holds after every step, and every access
 * gives what a page-granular reference model of Linux says: the byte last
 * written (private pages copied at fork, shared pages shared), zero after
 * MADV_DONTNEED on private anonymous memory, SIGSEGV outside mappings or
 * without permission, SIGBUS beyond the end of a memfd.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Kernel, Process, Signal, simulate } from "../lib/mod.ts";
import { Prng } from "./_prng.ts";

const SEQUENCES = 10_000;
const STEPS = 14;
const PAGE = C.PAGE_SIZE;

/** A shmem file in the reference: its size in pages and its bytes by page index. */
interface RefFile {
  fd: number;
  pages: number;
  data: Map<number, number>;
}

/** One mapped page in the reference. */
interface RefPage {
  kind: "anon" | "shared-anon" | "shared-file" | "private-file";
  prot: number;
  file: RefFile | null;
  index: number;
  /** Private contents (anon, or a private file page after COW). */
  own: number | undefined;
}

interface RefProc {
  p: Process;
  pages: Map<number, RefPage>;
  files: RefFile[];
}

type Outcome = number | "SIGSEGV" | "SIGBUS";

function expectRead(ref: RefProc, addr: number): Outcome {
  const pg = ref.pages.get(addr);
  if (!pg) return "SIGSEGV";
  if (pg.prot === C.PROT_NONE) return "SIGSEGV";
  if (pg.kind === "anon") return pg.own ?? 0;
  if (pg.kind === "private-file" && pg.own !== undefined) return pg.own;
  if (pg.index >= pg.file!.pages) return "SIGBUS";
  return pg.file!.data.get(pg.index) ?? 0;
}

function applyWrite(ref: RefProc, addr: number, value: number): Outcome {
  const pg = ref.pages.get(addr);
  if (!pg || !(pg.prot & C.PROT_WRITE)) return "SIGSEGV";
  if (pg.kind === "anon") pg.own = value;
  else if (pg.index >= pg.file!.pages) return "SIGBUS";
  else if (pg.kind === "private-file") pg.own = value;
  else pg.file!.data.set(pg.index, value);
  return value;
}

function attempt(fn: () => number | void): Outcome | "ok" {
  try {
    const v = fn();
    return typeof v === "number" ? v : "ok";
  } catch (e) {
    if (e instanceof Signal) {
      if (e.signo === "SIGSEGV" || e.signo === "SIGBUS") return e.signo;
    }
    throw e;
  }
}

/** Whole VMAs-worth ranges of mapped pages in `ref`, for munmap/mprotect/madvise. */
function mappedRun(rng: Prng, ref: RefProc): [number, number] | null {
  const addrs = [...ref.pages.keys()].sort((a, b) => a - b);
  if (addrs.length === 0) return null;
  const start = rng.pick(addrs);
  let n = 1;
  const max = rng.int(1, 6);
  while (n < max && ref.pages.has(start + n * PAGE)) n++;
  return [start, n];
}

function anyAddr(rng: Prng, ref: RefProc): number {
  const addrs = [...ref.pages.keys()];
  if (addrs.length && rng.chance(0.9)) return rng.pick(addrs) + (rng.chance(0.5) ? PAGE : 0);
  return rng.int(16, 4096) * PAGE;
}

function runSequence(seed: number): number {
  const rng = new Prng(seed);
  const k: Kernel = simulate({ memory: 64 * 2 ** 20 });
  const procs: RefProc[] = [{ p: k.spawn(), pages: new Map(), files: [] }];
  let steps = 0;
  const trace: string[] = [];
  try {
    for (let s = 0; s < STEPS; s++) {
      const ref = rng.pick(procs);
      step(rng, k, procs, ref, trace);
      k.check();
      steps++;
    }
    for (const ref of procs) {
      for (const addr of ref.pages.keys()) {
        const got = attempt(() => ref.p.read(addr));
        assert.equal(
          got,
          expectRead(ref, addr),
          `final read pid ${ref.p.pid} 0x${addr.toString(16)}`,
        );
      }
    }
  } catch (e) {
    throw new Error(
      `seed ${seed} after ${steps} steps:\n  ${trace.join("\n  ")}\n${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return steps;
}

function step(rng: Prng, k: Kernel, procs: RefProc[], ref: RefProc, trace: string[]): void {
  const p = ref.p;
  const action = rng.int(0, 12);
  switch (action) {
    case 0:
    case 1: { // anonymous private or shared mapping
      const n = rng.int(1, 8);
      const shared = rng.chance(0.3);
      const prot = rng.pick([C.PROT_READ | C.PROT_WRITE, C.PROT_READ, C.PROT_NONE]);
      const a = p.mmap(
        0,
        n * PAGE,
        prot,
        (shared ? C.MAP_SHARED : C.MAP_PRIVATE) | C.MAP_ANONYMOUS,
      );
      trace.push(
        `pid ${p.pid} mmap anon ${shared ? "shared" : "private"} ${n} pages prot ${prot} = 0x${
          a.toString(16)
        }`,
      );
      const file: RefFile | null = shared ? { fd: -1, pages: n, data: new Map() } : null;
      for (let i = 0; i < n; i++) {
        ref.pages.set(a + i * PAGE, {
          kind: shared ? "shared-anon" : "anon",
          prot,
          file,
          index: i,
          own: undefined,
        });
      }
      return;
    }
    case 2: { // memfd, mapped shared or private
      let f = ref.files.length && rng.chance(0.5) ? rng.pick(ref.files) : null;
      if (!f) {
        const fd = p.memfdCreate("prop");
        const pages = rng.int(1, 6);
        p.ftruncate(fd, pages * PAGE);
        f = { fd, pages, data: new Map() };
        ref.files.push(f);
      }
      const n = rng.int(1, f.pages + 1);
      const shared = rng.chance(0.5);
      const a = p.mmap(
        0,
        n * PAGE,
        C.PROT_READ | C.PROT_WRITE,
        shared ? C.MAP_SHARED : C.MAP_PRIVATE,
        f.fd,
        0,
      );
      trace.push(
        `pid ${p.pid} mmap fd ${f.fd} ${shared ? "shared" : "private"} ${n} pages = 0x${
          a.toString(16)
        }`,
      );
      for (let i = 0; i < n; i++) {
        ref.pages.set(a + i * PAGE, {
          kind: shared ? "shared-file" : "private-file",
          prot: C.PROT_READ | C.PROT_WRITE,
          file: f,
          index: i,
          own: undefined,
        });
      }
      return;
    }
    case 3: { // munmap
      const run = mappedRun(rng, ref);
      if (!run) return;
      trace.push(`pid ${p.pid} munmap 0x${run[0].toString(16)} ${run[1]} pages`);
      p.munmap(run[0], run[1] * PAGE);
      for (let i = 0; i < run[1]; i++) ref.pages.delete(run[0] + i * PAGE);
      return;
    }
    case 4: { // mprotect
      const run = mappedRun(rng, ref);
      if (!run) return;
      const prot = rng.pick([C.PROT_READ | C.PROT_WRITE, C.PROT_READ, C.PROT_NONE]);
      const pages = Array.from({ length: run[1] }, (_, i) => ref.pages.get(run[0] + i * PAGE)!);
      // A shared mapping of a file cannot gain PROT_WRITE without VM_MAYWRITE; all
      // files here are opened read-write, so every mprotect is allowed.
      trace.push(`pid ${p.pid} mprotect 0x${run[0].toString(16)} ${run[1]} pages prot ${prot}`);
      p.mprotect(run[0], run[1] * PAGE, prot);
      for (const pg of pages) pg.prot = prot;
      return;
    }
    case 5: { // MADV_DONTNEED
      const run = mappedRun(rng, ref);
      if (!run) return;
      trace.push(`pid ${p.pid} madvise DONTNEED 0x${run[0].toString(16)} ${run[1]} pages`);
      p.madvise(run[0], run[1] * PAGE, C.MADV_DONTNEED);
      for (let i = 0; i < run[1]; i++) {
        const pg = ref.pages.get(run[0] + i * PAGE)!;
        if (pg.kind === "anon" || pg.kind === "private-file") pg.own = undefined;
      }
      return;
    }
    case 6: { // fork
      if (procs.length >= 3) return;
      const child = p.fork();
      trace.push(`pid ${p.pid} fork = ${child.pid}`);
      const pages = new Map<number, RefPage>();
      for (const [addr, pg] of ref.pages) pages.set(addr, { ...pg });
      procs.push({ p: child, pages, files: [...ref.files] });
      return;
    }
    case 7: { // exit a process other than the first
      if (procs.length < 2 || ref === procs[0]) return;
      trace.push(`pid ${p.pid} exit`);
      p.exit();
      procs.splice(procs.indexOf(ref), 1);
      assert.ok(!k.dmesg.some((l) => l.startsWith("BUG")), k.dmesg.join("\n"));
      return;
    }
    case 8: { // ftruncate a memfd smaller or larger
      if (!ref.files.length) return;
      const f = rng.pick(ref.files);
      const pages = rng.int(0, 6);
      trace.push(`pid ${p.pid} ftruncate fd ${f.fd} to ${pages} pages`);
      p.ftruncate(f.fd, pages * PAGE);
      if (pages < f.pages) {
        for (const i of [...f.data.keys()]) if (i >= pages) f.data.delete(i);
        for (const r of procs) {
          for (const pg of r.pages.values()) {
            if (pg.file === f && pg.kind === "private-file" && pg.index >= pages) {
              pg.own = undefined;
            }
          }
        }
      }
      f.pages = pages;
      return;
    }
    case 9:
    case 10: { // write
      const addr = anyAddr(rng, ref);
      const value = rng.int(1, 255);
      const want = applyWrite(ref, addr, value);
      trace.push(`pid ${p.pid} write 0x${addr.toString(16)} = ${value} (want ${want})`);
      const got = attempt(() => p.write(addr, value));
      assert.equal(got === "ok" ? value : got, want, `write 0x${addr.toString(16)}`);
      return;
    }
    default: { // read
      const addr = anyAddr(rng, ref);
      const want = expectRead(ref, addr);
      trace.push(`pid ${p.pid} read 0x${addr.toString(16)} (want ${want})`);
      assert.equal(attempt(() => p.read(addr)), want, `read 0x${addr.toString(16)}`);
    }
  }
}

Deno.test("random syscall sequences keep every invariant and match the reference model", () => {
  let steps = 0;
  for (let seed = 1; seed <= SEQUENCES; seed++) steps += runSequence(seed);
  console.log(`${SEQUENCES} sequences, ${steps} steps, check() after each`);
  assert.equal(steps, SEQUENCES * STEPS);
});

Deno.test("the reference model itself: errors other than signals are not swallowed", () => {
  assert.throws(() =>
    attempt(() => {
      throw new Errno("EINVAL", "test");
    }), Errno);
});
