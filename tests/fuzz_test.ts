/**
 * Fuzzing the process facade: 100,000 calls with seeded random arguments
 * that stay within the ABI's types (integers of any size and sign below
 * 2^64, random flag bits, random fds, addresses near and far from the
 * mappings, byte values and Uint8Arrays for writes) across a few processes
 * that fork and exit. A call may return, throw Errno or throw Signal;
 * anything else (a TypeError or RangeError from deep inside, a VmBugError,
 * a broken invariant in the periodic k.check()) fails the test and prints
 * the calls that lead to it as a script to paste into a reproducer.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Kernel, type Process, Signal, simulate } from "../lib/mod.ts";
import { Random } from "./_random.ts";

const CALLS = 100_000;
/** A fresh kernel every so many calls keeps the state (and memory) bounded. */
const CALLS_PER_KERNEL = 2_000;
const CHECK_EVERY = 50;
const SEED = 0x66757a7a;
const P = C.PAGE_SIZE;
/** Small simulated RAM, so that running out of memory is part of the game. */
const MEMORY = 96 * 2 ** 20;
/** mmap(MAP_POPULATE)/madvise(MADV_POPULATE_*) lengths are kept to this, for speed. */
const POPULATE_MAX = 64 * P;

const FLAG_BITS = [
  C.MAP_SHARED,
  C.MAP_PRIVATE,
  C.MAP_FIXED,
  C.MAP_ANONYMOUS,
  C.MAP_32BIT,
  C.MAP_GROWSDOWN,
  C.MAP_DENYWRITE,
  C.MAP_EXECUTABLE,
  C.MAP_LOCKED,
  C.MAP_NORESERVE,
  C.MAP_POPULATE,
  C.MAP_NONBLOCK,
  C.MAP_STACK,
  C.MAP_HUGETLB,
  C.MAP_SYNC,
  C.MAP_FIXED_NOREPLACE,
  C.MAP_UNINITIALIZED,
  C.MAP_HUGE_2MB,
  C.MAP_HUGE_1GB,
];
const ADVICE = [
  0,
  1,
  2,
  3,
  4,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
  17,
  18,
  19,
  20,
  21,
  22,
  23,
  24,
  25,
  100,
  101,
  102,
  103,
];

/** One generated call: how to print it and how to make it. */
interface Call {
  text: string;
  run: () => unknown;
}

class Fuzzer {
  k!: Kernel;
  procs: Process[] = [];
  script: string[] = [];

  constructor(readonly rnd: Random) {
    this.restart();
  }

  /** Large anonymous folios the current kernel's write faults allocated. */
  mthpFolios(): number {
    return [...this.k.core.mthpStats.values()].reduce((n, s) => n + s.anon_fault_alloc, 0);
  }

  /** Kernels started so far. */
  private kernels = 0;

  restart(): void {
    const options = {
      memory: MEMORY,
      config: { MEM_SOFT_DIRTY: this.rnd.chance(0.5) },
      // Every third kernel maps anonymous write faults with 16 kB and 64 kB
      // folios where they fit (chosen without drawing from `rnd`, so the
      // calls are the same as without).
      thp: this.kernels++ % 3 === 2 ? { hugepages: { 16: "always", 64: "always" } as const } : {},
    };
    this.k = simulate(options);
    this.procs = [this.k.spawn()];
    this.script = [`const k = simulate(${JSON.stringify(options)});`, "const p0 = k.spawn();"];
  }

  /** An address: near a mapping most of the time, else anywhere in (-2^64, 2^64). */
  addr(p: Process): number {
    const r = this.rnd;
    const vmas = p.exited ? [] : p.mm.vmas;
    const x = r.next();
    if (x < 0.45 && vmas.length) {
      const v = r.pick(vmas);
      const base = r.chance(0.5) ? v.vm_start : v.vm_end;
      return base +
        r.pick([0, 0, -P, P, -2 * P, 2 * P, 1, -1, r.int(-64, 64) * P, r.int(-5000, 5000)]);
    }
    if (x < 0.55) return r.int(0, 0x20000);
    if (x < 0.65) {
      return r.pick([C.TASK_SIZE, 2 ** 47, 2 ** 47 - 1, C.TASK_SIZE - P, 0x7f0000000000]) +
        r.int(-3, 3) * P;
    }
    if (x < 0.75) {
      return r.pick([-1, -P, -2 * P, -(2 ** 47), 2 ** 63, 2 ** 64 - 2 ** 12, 2 ** 53, -(2 ** 63)]);
    }
    if (x < 0.85) return r.int(0, 2 ** 47 / P) * P;
    return this.int64();
  }

  /** A page-aligned address in or next to a mapping, or in a free spot nearby. */
  pageAddr(p: Process): number {
    const r = this.rnd;
    const vmas = p.exited ? [] : p.mm.vmas;
    if (!vmas.length || r.chance(0.2)) return 0x100000000000 + r.int(0, 64) * P;
    const v = r.pick(vmas);
    return v.vm_start + r.int(-4, (v.vm_end - v.vm_start) / P + 4) * P;
  }

  /** A few pages. */
  pages(): number {
    return this.rnd.int(1, 8) * P;
  }

  length(): number {
    const r = this.rnd, x = r.next();
    if (x < 0.4) return r.int(0, 16) * P;
    if (x < 0.55) return r.int(1, 16 * P);
    if (x < 0.65) return 0;
    if (x < 0.75) {
      return r.pick([
        2 ** 40,
        2 ** 47,
        2 ** 48,
        2 ** 63,
        2 ** 64 - P,
        2 ** 53,
        C.PMD_SIZE,
        C.PUD_SIZE,
      ]);
    }
    if (x < 0.85) return -r.int(1, 3 * P);
    return this.int64();
  }

  /** Any integer of magnitude below 2^64. */
  int64(): number {
    const r = this.rnd;
    const v = r.u32() * 2 ** r.int(0, 32) + r.u32();
    return r.chance(0.3) ? -v : v;
  }

  /** A C int's worth of random bits, or a small number. */
  int32(): number {
    const r = this.rnd;
    return r.chance(0.5) ? r.u32() | 0 : r.int(-8, 64);
  }

  prot(): number {
    const r = this.rnd;
    if (r.chance(0.75)) return r.int(0, 7);
    return r.pick([
      C.PROT_SEM,
      C.PROT_GROWSDOWN,
      C.PROT_GROWSUP,
      0x10,
      this.int32(),
      1 << r.int(0, 31),
    ]) |
      r.int(0, 7);
  }

  flags(): number {
    const r = this.rnd;
    if (r.chance(0.25)) return this.int32();
    let f = r.pick([C.MAP_PRIVATE, C.MAP_SHARED, C.MAP_SHARED_VALIDATE, C.MAP_DROPPABLE, 0, 0xf]);
    if (r.chance(0.6)) f |= C.MAP_ANONYMOUS;
    for (let n = r.int(0, 3); n > 0; n--) f |= r.pick(FLAG_BITS);
    if (r.chance(0.05)) f |= r.int(1, 63) << C.MAP_HUGE_SHIFT;
    return f;
  }

  fd(p: Process): number {
    const r = this.rnd;
    const open = p.exited ? [] : [...p.files.keys()];
    if (open.length && r.chance(0.6)) return r.pick(open);
    return r.chance(0.5) ? r.int(-5, 20) : this.int32();
  }

  offset(): number {
    const r = this.rnd, x = r.next();
    if (x < 0.6) return r.int(0, 8) * P;
    if (x < 0.7) return r.int(1, P - 1);
    if (x < 0.8) return r.pick([2 ** 62, 2 ** 63 - P, 2 ** 63, 2 ** 52, -P]);
    return this.int64();
  }

  /** A random call on a random process (exited ones included). */
  next(): Call {
    const r = this.rnd;
    // Mostly a live process; sometimes one that has exited (ESRCH).
    const alive = this.procs.flatMap((q, i) => (q.exited ? [] : [i]));
    const pi = r.chance(0.97) ? r.pick(alive) : r.int(0, this.procs.length - 1);
    const p = this.procs[pi];
    const name = `p${pi}`;
    const hex = (n: number) => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
    const x = r.next();
    const sane = r.chance(0.6);
    if (x < 0.2) {
      const fd = this.fd(p);
      let a = this.addr(p), flags = this.flags(), prot = this.prot();
      let off = this.offset(), len = this.length();
      if (sane) {
        a = this.pageAddr(p);
        len = this.pages();
        prot = r.int(0, 7);
        off = r.int(0, 4) * P;
        flags = r.pick([C.MAP_PRIVATE, C.MAP_SHARED]) | (r.chance(0.6) ? C.MAP_ANONYMOUS : 0) |
          r.pick([0, C.MAP_FIXED, C.MAP_FIXED_NOREPLACE, C.MAP_POPULATE, C.MAP_NORESERVE]);
      }
      if ((flags & C.MAP_POPULATE || flags & C.MAP_LOCKED) && Math.abs(len) > POPULATE_MAX) {
        len = r.int(0, 64) * P;
      }
      return {
        text: `${name}.mmap(${hex(a)}, ${hex(len)}, ${hex(prot)}, ${hex(flags)}, ${fd}, ${
          hex(off)
        })`,
        run: () => p.mmap(a, len, prot, flags, fd, off),
      };
    }
    if (x < 0.3) {
      const a = sane ? this.pageAddr(p) : this.addr(p), len = sane ? this.pages() : this.length();
      return { text: `${name}.munmap(${hex(a)}, ${hex(len)})`, run: () => p.munmap(a, len) };
    }
    if (x < 0.34) {
      const a = sane ? this.pageAddr(p) : this.addr(p);
      const oldLen = sane ? this.pages() : this.length(),
        newLen = sane ? this.pages() : this.length();
      const flags = sane
        ? r.pick([0, C.MREMAP_MAYMOVE, C.MREMAP_MAYMOVE | C.MREMAP_FIXED, 7])
        : this.int32();
      const to = sane ? this.pageAddr(p) : this.addr(p);
      return {
        text: `${name}.mremap(${hex(a)}, ${hex(oldLen)}, ${hex(newLen)}, ${flags}, ${hex(to)})`,
        run: () => p.mremap(a, oldLen, newLen, flags, to),
      };
    }
    if (x < 0.4) {
      const a = sane ? this.pageAddr(p) : this.addr(p), len = sane ? this.pages() : this.length();
      const prot = sane ? r.int(0, 7) : this.prot();
      return {
        text: `${name}.mprotect(${hex(a)}, ${hex(len)}, ${hex(prot)})`,
        run: () => p.mprotect(a, len, prot),
      };
    }
    if (x < 0.52) {
      const a = sane ? this.pageAddr(p) : this.addr(p);
      const advice = r.chance(0.9) ? r.pick(ADVICE) : this.int32();
      let len = sane ? this.pages() : this.length();
      if (sane && r.chance(0.15)) {
        // Reclaim after MADV_FREE: the path that drops lazily freed pages.
        return {
          text: `${name}.madvise(${hex(a)}, ${hex(len)}, ${C.MADV_FREE}); ${name}.madvise(${
            hex(a)
          }, ${hex(len)}, ${C.MADV_PAGEOUT})`,
          run: () => {
            p.madvise(a, len, C.MADV_FREE);
            p.madvise(a, len, C.MADV_PAGEOUT);
          },
        };
      }
      const populate = advice === C.MADV_POPULATE_READ || advice === C.MADV_POPULATE_WRITE;
      if (populate && Math.abs(len) > POPULATE_MAX) len = r.int(0, 64) * P;
      return {
        text: `${name}.madvise(${hex(a)}, ${hex(len)}, ${advice})`,
        run: () => p.madvise(a, len, advice),
      };
    }
    if (x < 0.64) {
      const a = this.addr(p);
      if (r.chance(0.8)) return { text: `${name}.read(${hex(a)})`, run: () => p.read(a) };
      const len = r.int(0, 2 * P);
      return { text: `${name}.read(${hex(a)}, ${len})`, run: () => p.read(a, len) };
    }
    if (x < 0.76) {
      const a = this.addr(p);
      if (r.chance(0.8)) {
        const v = r.int(0, 255);
        return { text: `${name}.write(${hex(a)}, ${v})`, run: () => p.write(a, v) };
      }
      const n = r.int(0, 2 * P), fill = r.int(0, 255);
      return {
        text: `${name}.write(${hex(a)}, new Uint8Array(${n}).fill(${fill}))`,
        run: () => p.write(a, new Uint8Array(n).fill(fill)),
      };
    }
    if (x < 0.82) {
      const a = this.addr(p);
      return { text: `${name}.pagemap(${hex(a)})`, run: () => p.pagemap(a) };
    }
    if (x < 0.85) {
      if (alive.length < 5 && this.procs.length < 16) {
        const child = `p${this.procs.length}`;
        return {
          text: `const ${child} = ${name}.fork();`,
          run: () => this.procs.push(p.fork()),
        };
      }
    }
    if (x < 0.87 && pi > 0) return { text: `${name}.exit()`, run: () => p.exit() };
    if (x < 0.91) {
      const flags = r.chance(0.7)
        ? r.pick([0, C.MFD_CLOEXEC, C.MFD_ALLOW_SEALING, C.MFD_NOEXEC_SEAL, C.MFD_EXEC])
        : this.int32();
      const nameLen = r.chance(0.9) ? r.int(0, 10) : r.int(240, 260);
      return {
        text: `${name}.memfdCreate("${"m".repeat(nameLen)}", ${hex(flags)})`,
        run: () => p.memfdCreate("m".repeat(nameLen), flags),
      };
    }
    if (x < 0.96) {
      const fd = this.fd(p);
      const len = r.chance(0.7) ? r.int(0, 32 * P) : this.int64();
      return { text: `${name}.ftruncate(${fd}, ${hex(len)})`, run: () => p.ftruncate(fd, len) };
    }
    if (x < 0.98) {
      const fd = this.fd(p);
      return { text: `${name}.close(${fd})`, run: () => p.close(fd) };
    }
    return { text: `${name}.maps(); ${name}.rss()`, run: () => (p.maps(), p.rss()) };
  }
}

Deno.test("100,000 random facade calls raise nothing but Errno and Signal", () => {
  const rnd = new Random(SEED);
  const fz = new Fuzzer(rnd);
  const tally = { returned: 0, errno: 0, signal: 0 };
  const fail = (i: number, what: string, e: unknown): never => {
    const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    assert.fail(
      `call ${i} (seed ${SEED}) ${what} threw ${err}\nreproducer:\n  ${
        fz.script.slice(-60).join("\n  ")
      }`,
    );
  };
  let mthp = 0;
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) {
    if (i > 0 && i % CALLS_PER_KERNEL === 0) {
      try {
        fz.k.check();
      } catch (e) {
        fail(i, "k.check() before a restart", e);
      }
      mthp += fz.mthpFolios();
      fz.restart();
    }
    const call = fz.next();
    fz.script.push(call.text);
    try {
      call.run();
      tally.returned++;
    } catch (e) {
      if (e instanceof Errno) tally.errno++;
      else if (e instanceof Signal) tally.signal++;
      else fail(i, call.text, e);
    }
    if (i % CHECK_EVERY === CHECK_EVERY - 1) {
      try {
        fz.k.check();
      } catch (e) {
        fail(i, "k.check()", e);
      }
    }
  }
  const ms = Math.round(performance.now() - t0);
  mthp += fz.mthpFolios();
  console.log(
    `${CALLS} calls: ${tally.returned} returned, ${tally.errno} Errno, ${tally.signal} Signal ` +
      `(${ms} ms); ${mthp} large anonymous folios faulted in`,
  );
  assert.equal(tally.returned + tally.errno + tally.signal, CALLS);
  assert.ok(mthp > 0, "the kernels with mTHP enabled faulted some in");
});
