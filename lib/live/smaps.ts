/**
 * /proc/self/smaps for one VMA: how the host kernel actually mapped a region
 * (Rss, AnonHugePages, THPeligible, VmFlags …). The live lab uses it to check
 * a claim such as "every fault was a 4 KiB fault" instead of assuming it.
 *
 * Models the reader's side of fs/proc/task_mmu.c, show_smap() (v6.18).
 * @module
 */

/** One VMA's block of /proc/pid/smaps. */
export interface SmapsEntry {
  /** vm_start and vm_end of the VMA. */
  start: number;
  end: number;
  /** The header line after the range: perms, offset, dev, inode, path. */
  header: string;
  /** Every "Name: N kB" line, in kB as the file gives them (`Rss`, `AnonHugePages` …). */
  kB: Record<string, number>;
  /** THPeligible (0 or 1), or null where the kernel printed no value. */
  thpEligible: number | null;
  /** The two-letter VmFlags mnemonics (`"nh"` is VM_NOHUGEPAGE, `"hg"` VM_HUGEPAGE). */
  vmFlags: string[];
}

/** Parse one smaps block (header line first). Throws a TypeError quoting a bad header. */
export function parseSmapsEntry(block: string): SmapsEntry {
  const [head, ...lines] = block.split("\n").filter((l) => l !== "");
  const m = /^([0-9a-f]+)-([0-9a-f]+)\s*(.*)$/.exec(head ?? "");
  if (!m) throw new TypeError(`not an smaps header line: ${JSON.stringify(head)}`);
  const entry: SmapsEntry = {
    start: parseInt(m[1], 16),
    end: parseInt(m[2], 16),
    header: m[3].trim(),
    kB: {},
    thpEligible: null,
    vmFlags: [],
  };
  for (const line of lines) {
    const [name, value = ""] = line.split(/:\s*/, 2).map((s) => s.trim());
    const size = /^(\d+) kB$/.exec(value);
    if (size) entry.kB[name] = Number(size[1]);
    else if (name === "THPeligible") entry.thpEligible = value === "" ? null : Number(value);
    else if (name === "VmFlags") entry.vmFlags = value.split(/\s+/).filter(Boolean);
  }
  return entry;
}

/** Split smaps text into its per-VMA blocks (each starts with an address range). */
export function splitSmaps(text: string): string[] {
  return text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((b) => b.trim() !== "");
}

/**
 * The smaps entry of the VMA containing `addr` in this process. Throws a
 * RangeError quoting the address if no VMA contains it. Needs `-A` (Deno asks
 * for all access to read /proc files).
 */
export function smapsOf(addr: number, path = "/proc/self/smaps"): SmapsEntry {
  for (const block of splitSmaps(Deno.readTextFileSync(path))) {
    const entry = parseSmapsEntry(block);
    if (entry.start <= addr && addr < entry.end) return entry;
  }
  throw new RangeError(`no VMA contains address 0x${addr.toString(16)} in ${path}`);
}
