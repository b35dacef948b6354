/**
 * The live half of lesson 07, run by runLiveLesson() in a child Deno with
 * --allow-ffi and --allow-read: the GC dirty-tracking rounds on this
 * process's real address space, and a written THP scanned with max_pages.
 * Prints one JSON object (LiveLessonResult) on stdout.
 * @module
 */
import { liveProcess } from "../live/process.ts";
import { madvise, mmap, munmap } from "../live/libc.ts";
import * as C from "../kernel/constants.ts";
import { categoryNames, gcRounds, type LiveThp, type LiveThpCase } from "./pagemap_scan.ts";

const P = C.PAGE_SIZE, HP = C.PMD_SIZE;
using p = liveProcess();
const gc = gcRounds(p, 64, 4);

/** Regions of [a, a + 2 MiB) as [first page, end page, category names]. */
function rows(a: number, arg: Partial<C_Arg> = {}): [number, number, string][] {
  return p.pagemapScan({
    start: a,
    end: a + HP,
    vecLen: 512,
    categoryAnyofMask: C.PAGE_IS_PRESENT,
    returnMask: C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT,
    ...arg,
  }).regions.map((r) => [(r.start - a) / P, (r.end - a) / P, categoryNames(r.categories)]);
}

/**
 * One written PMD THP in a VMA registered for WP_ASYNC (not yet
 * write-protected, so PAGE_IS_WRITTEN), scanned with PM_SCAN_WP_MATCHING
 * and `maxPages`; then one more write to its last page.
 */
function thpCase(maxPages: number): LiveThpCase | string {
  const raw = mmap(0, 2 * HP, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const a = Math.ceil(raw / HP) * HP;
  try {
    madvise(a, HP, C.MADV_HUGEPAGE);
    const ptr = Deno.UnsafePointer.create(BigInt(a))!;
    const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, HP));
    view[0] = 1; // one fault: a PMD THP where the host allows it
    const first = rows(a);
    if (!(first.length === 1 && first[0][2].includes("HUGE"))) {
      const setting = Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled").trim();
      return `no PMD THP after the first write (THP enabled: "${setting}")`;
    }
    using uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
    uffd.api({
      api: C.UFFD_API,
      features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED,
    });
    uffd.register({ range: { start: a, len: HP }, mode: C.UFFDIO_REGISTER_MODE_WP });
    const before = rows(a);
    const scan = rows(a, {
      flags: C.PM_SCAN_WP_MATCHING,
      maxPages,
      categoryMask: C.PAGE_IS_WRITTEN,
      categoryAnyofMask: 0,
    });
    const after = rows(a);
    view[HP - 1] = 2;
    const afterWrite = rows(a);
    return { maxPages, before, scan, after, afterWrite };
  } finally {
    munmap(raw, 2 * HP);
  }
}

function thp(): LiveThp {
  const cases: LiveThpCase[] = [];
  for (const maxPages of [10, 0]) {
    const c = thpCase(maxPages);
    if (typeof c === "string") return { ran: false, reason: c };
    cases.push(c);
  }
  return { ran: true, cases };
}
type C_Arg = Parameters<typeof p.pagemapScan>[0];

console.log(JSON.stringify({ kernel: Deno.osRelease(), gc, thp: thp() }));
