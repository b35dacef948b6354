/**
 * What the host can do for the live-kernel lab: kernel release, CPU, memory,
 * transparent hugepage settings, whether libc is callable through FFI,
 * userfaultfd (its features, vm.unprivileged_userfaultfd, the caller's
 * privileges) and the PAGEMAP_SCAN ioctl.
 *
 * {@link probeHost} never throws: on a host that is not Linux, or without the
 * permission to read a file, the field is `null` and `missing` says why.
 * @module
 */

import { machineCodeUnavailable } from "./machine_code.ts";
import { close, type FfiStatus, ffiStatus, geteuid, ioctl, open } from "./libc.ts";
import { LiveUserfaultfd } from "./userfaultfd.ts";
import {
  O_CLOEXEC,
  PAGEMAP_SCAN,
  PM_SCAN_ARG_SIZE,
  UFFD_API,
  UFFD_FEATURE_NAMES,
  UFFD_USER_MODE_ONLY,
} from "../kernel/constants.ts";

/** Where the transparent hugepage knobs live (mm/huge_memory.c, hugepage_init_sysfs). */
export const THP_SYSFS = "/sys/kernel/mm/transparent_hugepage";

/**
 * The host's THP policy: the selected value of each sysfs knob.
 *
 * `enabled` and `defrag` are the PMD-size policy; `hugepages` holds each mTHP
 * size's own `enabled` ("always", "inherit", "madvise" or "never"), keyed by
 * the sysfs directory name (`"hugepages-2048kB"`), smallest size first.
 * `files` keeps what each file said, keyed by its path under
 * /sys/kernel/mm/transparent_hugepage (`"enabled"` → `"always [madvise] never"`).
 */
export interface ThpSettings {
  enabled: string;
  defrag: string;
  hugepages: Record<string, string>;
  files: Record<string, string>;
}

/** Everything {@link probeHost} found out; a `null` field has its reason in `missing`. */
export interface HostProbe {
  /** Deno.build.os, e.g. "linux". */
  os: string;
  /** Deno.build.arch, e.g. "x86_64". */
  arch: string;
  /** uname -r, e.g. "6.18.4-amd64". */
  kernelRelease: string | null;
  /** "model name" of the first CPU in /proc/cpuinfo. */
  cpuModel: string | null;
  /** Logical CPUs this process may run on (navigator.hardwareConcurrency). */
  cores: number | null;
  /** MemTotal from /proc/meminfo, in bytes. */
  memTotalBytes: number | null;
  /** The THP knobs under /sys/kernel/mm/transparent_hugepage. */
  thp: ThpSettings | null;
  /** Whether mmap/madvise/… can be called through Deno FFI, and if not, why. */
  ffi: FfiStatus;
  /** The caller's effective uid and the capabilities the live lab cares about. */
  privileges: Privileges | null;
  /** /proc/sys/vm/unprivileged_userfaultfd: 1 lets anyone handle kernel-mode faults too. */
  unprivilegedUserfaultfd: number | null;
  /** What UFFDIO_API offers this process (asked with features 0, which reports them all). */
  uffd: UffdProbe | null;
  /** Whether ioctl(PAGEMAP_SCAN) on /proc/self/pagemap works (v6.7 and later). */
  pagemapScan: boolean | null;
  /**
   * Whether the live lab's hand-assembled x86-64 helpers run here: the
   * si_code and si_addr of a fatal fault (lib/live/fault_report.ts) and
   * fork() with a child that runs no code (lib/live/fork.ts).
   */
  nativeHelpers: boolean | null;
  /** For each `null` field above, why it could not be read. */
  missing: Partial<Record<ProbeField, string>>;
}

type ProbeField =
  | "kernelRelease"
  | "cpuModel"
  | "cores"
  | "memTotalBytes"
  | "thp"
  | "privileges"
  | "unprivilegedUserfaultfd"
  | "uffd"
  | "pagemapScan"
  | "nativeHelpers";

/** The effective uid and capabilities (CapEff of /proc/self/status). */
export interface Privileges {
  euid: number;
  /** CAP_SYS_ADMIN (21): pagemap shows PFNs. */
  capSysAdmin: boolean;
  /** CAP_SYS_PTRACE (19): userfaultfd may handle kernel-mode faults. */
  capSysPtrace: boolean;
}

/** What the host's userfaultfd offers. */
export interface UffdProbe {
  features: number;
  /** The UFFD_FEATURE_* names of `features`. */
  featureNames: string[];
  /** The ioctls UFFDIO_API reports, as hex (bit 63, _UFFDIO_API, does not fit a number). */
  ioctls: string;
}

/** CapEff from /proc/self/status text, as a bigint bit mask. */
export function parseCapEff(status: string): bigint {
  const m = /^CapEff:\s+([0-9a-f]+)$/m.exec(status);
  if (!m) throw new TypeError("no CapEff line in /proc/self/status text");
  return BigInt(`0x${m[1]}`);
}

/** Open a userfaultfd (user-mode faults only, which needs no privilege) and ask UFFDIO_API. */
function probeUffd(): UffdProbe {
  using uffd = LiveUserfaultfd.open(O_CLOEXEC | UFFD_USER_MODE_ONLY);
  const { features, ioctls } = uffd.api({ api: UFFD_API, features: 0 });
  const featureNames = UFFD_FEATURE_NAMES.filter(([, bit]) => features & bit).map(([n]) => n);
  return { features, featureNames, ioctls: `0x${ioctls.toString(16)}` };
}

/** An empty PAGEMAP_SCAN (start == end): 0 where the ioctl exists, EINVAL/ENOTTY before v6.7. */
function probePagemapScan(): boolean {
  const fd = open("/proc/self/pagemap");
  try {
    const arg = new DataView(new ArrayBuffer(PM_SCAN_ARG_SIZE));
    arg.setBigUint64(0, BigInt(PM_SCAN_ARG_SIZE), true);
    arg.setBigUint64(16, 0x10000n, true);
    arg.setBigUint64(24, 0x10000n, true);
    ioctl(fd, PAGEMAP_SCAN, new Uint8Array(arg.buffer), "PAGEMAP_SCAN");
    return true;
  } catch (e) {
    if (e instanceof Error && /EINVAL|ENOTTY/.test(e.message)) return false;
    throw e;
  } finally {
    close(fd);
  }
}

/**
 * The selected value of a sysfs multiple-choice file: the bracketed word of
 * `"always [madvise] never"`. Throws a TypeError quoting text without one.
 */
export function parseSysfsChoice(text: string): string {
  const m = /\[([^\]]+)\]/.exec(text);
  if (!m) throw new TypeError(`no [selected] value in sysfs text ${JSON.stringify(text)}`);
  return m[1];
}

/** The first "model name" in /proc/cpuinfo text (x86), else "Hardware"/"CPU part" (arm). */
export function parseCpuModel(cpuinfo: string): string {
  for (const key of ["model name", "Hardware", "CPU part"]) {
    const m = new RegExp(`^${key}\\s*:\\s*(.+)$`, "m").exec(cpuinfo);
    if (m) return m[1].trim();
  }
  throw new TypeError(
    `no "model name" line in /proc/cpuinfo text starting ${JSON.stringify(cpuinfo.slice(0, 80))}`,
  );
}

/** MemTotal from /proc/meminfo text, converted from kB to bytes. */
export function parseMemTotal(meminfo: string): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(meminfo);
  if (!m) {
    throw new TypeError(
      `no "MemTotal: N kB" line in /proc/meminfo text starting ${
        JSON.stringify(meminfo.slice(0, 80))
      }`,
    );
  }
  return Number(m[1]) * 1024;
}

/** Size in kB from an mTHP directory name (`"hugepages-2048kB"` → 2048), for sorting. */
function hugepagesKb(dir: string): number {
  return Number(/^hugepages-(\d+)kB$/.exec(dir)?.[1] ?? NaN);
}

/** Whether `path` exists (a missing knob is normal, see {@link readThpSettings}). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Read every THP knob the lab records (see {@link ThpSettings}). A size
 * directory without an `enabled` file is one only shmem may use (anonymous
 * mTHP has no order-1 size, so hugepages-8kB has just shmem_enabled); it is
 * left out.
 */
export function readThpSettings(root = THP_SYSFS): ThpSettings {
  const files: Record<string, string> = {};
  const knob = (path: string) => {
    files[path] = Deno.readTextFileSync(`${root}/${path}`).trim();
    return parseSysfsChoice(files[path]);
  };
  const dirs = [...Deno.readDirSync(root)]
    .filter((e) => e.isDirectory && !Number.isNaN(hugepagesKb(e.name)))
    .map((e) => e.name)
    .filter((dir) => exists(`${root}/${dir}/enabled`))
    .sort((a, b) => hugepagesKb(a) - hugepagesKb(b));
  const hugepages: Record<string, string> = {};
  const enabled = knob("enabled");
  const defrag = knob("defrag");
  for (const dir of dirs) hugepages[dir] = knob(`${dir}/enabled`);
  return { enabled, defrag, hugepages, files };
}

/** Run `read`; on any error record why under `field` and return null. */
function attempt<T>(
  field: ProbeField,
  missing: HostProbe["missing"],
  read: () => T,
): T | null {
  try {
    return read();
  } catch (e) {
    missing[field] = e instanceof Error ? e.message : String(e);
    return null;
  }
}

/**
 * Probe the host. The full picture needs `-A`: Deno asks for all access to
 * read files under /proc and /sys, besides `--allow-sys=osRelease` and
 * `--allow-ffi`. Without them, or off Linux, the affected fields are null with
 * the reason in `missing`.
 */
export function probeHost(): HostProbe {
  const missing: HostProbe["missing"] = {};
  const linuxOnly = () => {
    if (Deno.build.os !== "linux") throw new Error(`not Linux (Deno.build.os is ${Deno.build.os})`);
  };
  return {
    os: Deno.build.os,
    arch: Deno.build.arch,
    kernelRelease: attempt("kernelRelease", missing, () => Deno.osRelease()),
    cpuModel: attempt("cpuModel", missing, () => {
      linuxOnly();
      return parseCpuModel(Deno.readTextFileSync("/proc/cpuinfo"));
    }),
    cores: attempt("cores", missing, () => navigator.hardwareConcurrency),
    memTotalBytes: attempt("memTotalBytes", missing, () => {
      linuxOnly();
      return parseMemTotal(Deno.readTextFileSync("/proc/meminfo"));
    }),
    thp: attempt("thp", missing, () => {
      linuxOnly();
      return readThpSettings();
    }),
    ffi: ffiStatus(),
    privileges: attempt("privileges", missing, () => {
      linuxOnly();
      const cap = parseCapEff(Deno.readTextFileSync("/proc/self/status"));
      return {
        euid: geteuid(),
        capSysAdmin: (cap & (1n << 21n)) !== 0n,
        capSysPtrace: (cap & (1n << 19n)) !== 0n,
      };
    }),
    unprivilegedUserfaultfd: attempt("unprivilegedUserfaultfd", missing, () => {
      linuxOnly();
      return Number(Deno.readTextFileSync("/proc/sys/vm/unprivileged_userfaultfd").trim());
    }),
    uffd: attempt("uffd", missing, () => {
      linuxOnly();
      return probeUffd();
    }),
    pagemapScan: attempt("pagemapScan", missing, () => {
      linuxOnly();
      return probePagemapScan();
    }),
    nativeHelpers: attempt("nativeHelpers", missing, () => {
      linuxOnly();
      const why = machineCodeUnavailable();
      if (why !== null) throw new Error(why);
      return true;
    }),
    missing,
  };
}
