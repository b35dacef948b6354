/**
 * Fuzzing the process facade: 100,000 calls with random arguments of the
 * right C types (integers of every size and sign, random flag bits, random
 * descriptors, addresses near and far from the mappings). A call may succeed
 * or throw `Errno` or `Signal`, as a C program would see -1 or die; anything
 * else (a TypeError from inside, a VM_BUG_ON) fails with a reproducer.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Kernel, type Process, Signal, simulate } from "../lib/mod.ts";
import { Prng } from "./_prng.ts";

const CALLS = 100_000;
const SEEDS = 20;
const PAGE = C.PAGE_SIZE;

/** Integers a fuzzer tries for lengths and addresses: edges, aligned, unaligned, huge, negative. */
function ulong(rng: Prng, near: number[]): number {
  switch (rng.int(0, 9)) {
    case 0:
      return rng.pick([
        0,
        1,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        -1,
        -PAGE,
        2 ** 31,
        2 ** 32,
        2 ** 47,
        2 ** 53 - 1,
      ]);
    case 1:
      return rng.pick([C.TASK_SIZE, C.TASK_SIZE - PAGE, C.TASK_SIZE + PAGE, 2 ** 63, -(2 ** 53)]);
    case 2:
      return rng.int(-(2 ** 31), 2 ** 31);
    case 3:
    case 4:
    case 5:
      return near.length ? rng.pick(near) + rng.int(-4, 8) * PAGE : rng.int(1, 64) * PAGE;
    case 6:
      return near.length ? rng.pick(near) + rng.int(0, PAGE) : rng.int(0, 2 ** 40);
    default:
      return rng.int(0, 64) * PAGE;
  }
}

function length(rng: Prng): number {
  return rng.pick([
    0,
    1,
    PAGE,
    3 * PAGE,
    16 * PAGE,
    C.PMD_SIZE,
    -1,
    -PAGE,
    2 ** 40,
    2 ** 47,
    rng.int(0, 1 << 20),
  ]);
}

function cint(rng: Prng, known: number[]): number {
  switch (rng.int(0, 5)) {
    case 0:
      return rng.int(-(2 ** 31), 2 ** 31 - 1);
    case 1:
      return 1 << rng.int(0, 31);
    default: {
      let v = 0;
      for (const bit of known) if (rng.chance(0.3)) v |= bit;
      return v;
    }
  }
}

const PROTS = [
  C.PROT_READ,
  C.PROT_WRITE,
  C.PROT_EXEC,
  C.PROT_SEM,
  C.PROT_GROWSDOWN,
  C.PROT_GROWSUP,
];
const MAPS = [
  C.MAP_SHARED,
  C.MAP_PRIVATE,
  C.MAP_FIXED,
  C.MAP_ANONYMOUS,
  C.MAP_POPULATE,
  C.MAP_FIXED_NOREPLACE,
  C.MAP_NORESERVE,
  C.MAP_LOCKED,
  C.MAP_GROWSDOWN,
  C.MAP_HUGETLB,
  C.MAP_STACK,
  C.MAP_NONBLOCK,
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
  7,
  26,
  99,
  -1,
];

interface State {
  k: Kernel;
  procs: Process[];
  near: number[];
}

/** One random call; returns its description for a reproducer. */
function call(rng: Prng, st: State): [string, () => unknown] {
  const p = rng.pick(st.procs);
  const fd = rng.pick([-1, 0, 3, 4, 5, 6, 99, 2 ** 31 - 1]);
  switch (rng.int(0, 12)) {
    case 0:
    case 1: {
      const args = [
        ulong(rng, st.near),
        length(rng),
        cint(rng, PROTS),
        cint(rng, MAPS),
        fd,
        rng.chance(0.8) ? 0 : ulong(rng, []),
      ] as const;
      return [`p${p.pid}.mmap(${args.join(", ")})`, () => {
        const a = p.mmap(...args);
        st.near.push(a);
      }];
    }
    case 2: {
      const args = [ulong(rng, st.near), length(rng)] as const;
      return [`p${p.pid}.munmap(${args.join(", ")})`, () => p.munmap(...args)];
    }
    case 3: {
      const args = [ulong(rng, st.near), length(rng), cint(rng, PROTS)] as const;
      return [`p${p.pid}.mprotect(${args.join(", ")})`, () => p.mprotect(...args)];
    }
    case 4: {
      const args = [ulong(rng, st.near), length(rng), rng.pick(ADVICE)] as const;
      return [`p${p.pid}.madvise(${args.join(", ")})`, () => p.madvise(...args)];
    }
    case 5:
    case 6: {
      const addr = ulong(rng, st.near);
      return [`p${p.pid}.read(${addr})`, () => p.read(addr)];
    }
    case 7:
    case 8: {
      const addr = ulong(rng, st.near);
      const v = rng.int(0, 255);
      return [`p${p.pid}.write(${addr}, ${v})`, () => p.write(addr, v)];
    }
    case 9: {
      const addr = ulong(rng, st.near);
      return [`p${p.pid}.pagemap(${addr})`, () => p.pagemap(addr)];
    }
    case 10: {
      if (st.procs.length < 4) return [`p${p.pid}.fork()`, () => st.procs.push(p.fork())];
      if (p === st.procs[0]) return [`p${p.pid}.pagemap(0)`, () => p.pagemap(0)];
      return [`p${p.pid}.exit()`, () => {
        p.exit();
        st.procs.splice(st.procs.indexOf(p), 1);
      }];
    }
    case 11: {
      const flags = cint(rng, [
        C.MFD_CLOEXEC,
        C.MFD_ALLOW_SEALING,
        C.MFD_HUGETLB,
        C.MFD_NOEXEC_SEAL,
        C.MFD_EXEC,
      ]);
      return [`p${p.pid}.memfdCreate("f", ${flags})`, () => p.memfdCreate("f", flags)];
    }
    default: {
      const len = rng.pick([0, PAGE, 5 * PAGE, -1, 2 ** 40, rng.int(0, 1 << 16)]);
      if (rng.chance(0.2)) return [`p${p.pid}.close(${fd})`, () => p.close(fd)];
      return [`p${p.pid}.ftruncate(${fd}, ${len})`, () => p.ftruncate(fd, len)];
    }
  }
}

Deno.test("100,000 random facade calls raise nothing but Errno and Signal", () => {
  const perSeed = CALLS / SEEDS;
  const seen = { ok: 0, errno: 0, signal: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rng = new Prng(seed);
    const k = simulate({ memory: 256 * 2 ** 20 });
    const st: State = { k, procs: [k.spawn()], near: [] };
    const log: string[] = [];
    for (let i = 0; i < perSeed; i++) {
      const [what, fn] = call(rng, st);
      log.push(what);
      if (log.length > 12) log.shift();
      try {
        fn();
        seen.ok++;
      } catch (e) {
        if (e instanceof Errno) seen.errno++;
        else if (e instanceof Signal) seen.signal++;
        else {
          throw new Error(
            `seed ${seed}, call ${i}: ${what} threw ${(e as Error).stack}\nlast calls:\n  ${
              log.join("\n  ")
            }`,
          );
        }
      }
      if (i % 500 === 0) k.check();
    }
    k.check();
  }
  console.log(`${CALLS} calls: ${seen.ok} returned, ${seen.errno} Errno, ${seen.signal} Signal`);
  assert.equal(seen.ok + seen.errno + seen.signal, CALLS);
  assert.ok(
    seen.ok > CALLS / 10 && seen.errno > CALLS / 10 && seen.signal > CALLS / 100,
    JSON.stringify(seen),
  );
});
