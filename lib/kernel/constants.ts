/**
 * User-visible constants with their kernel names and values (x86-64):
 * include/uapi/asm-generic/mman-common.h, mman.h, include/uapi/linux/memfd.h,
 * fs/proc/task_mmu.c (pagemap bits), arch/x86/include/asm/page_types.h.
 * @module
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PMD_SHIFT = 21;
export const PMD_SIZE = 2 ** PMD_SHIFT;
export const PUD_SHIFT = 30;
export const PUD_SIZE = 2 ** PUD_SHIFT;
export const PGDIR_SHIFT = 39;
export const PTRS_PER_PTE = 512;
export const PTRS_PER_PMD = 512;
export const PTRS_PER_PUD = 512;
export const PTRS_PER_PGD = 512;
export const HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT;
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;
/** x86-64 with 4-level paging: the user address space ends one page below 2^47. */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;

// mmap/mprotect protections (mman-common.h)
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const PROT_SEM = 0x8;
export const PROT_GROWSDOWN = 0x01000000;
export const PROT_GROWSUP = 0x02000000;

// mmap flags
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_DROPPABLE = 0x08;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
/** x86: place the mapping in the first 2 GiB (arch/x86/include/uapi/asm/mman.h). */
export const MAP_32BIT = 0x40;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_DENYWRITE = 0x0800;
export const MAP_EXECUTABLE = 0x1000;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SYNC = 0x80000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_UNINITIALIZED = 0x4000000;
/** MAP_HUGETLB page size as log2 in bits 26-31 (include/uapi/asm-generic/hugetlb_encode.h). */
export const MAP_HUGE_SHIFT = 26;
export const MAP_HUGE_MASK = 0x3f;
export const MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT;
export const MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT;
/** The value mmap returns on failure in C; the facade throws instead. */
export const MAP_FAILED = -1;

// mremap(2) flags (include/uapi/linux/mman.h).
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

// madvise advice values
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_DONTNEED_LOCKED = 24;
export const MADV_COLLAPSE = 25;
export const MADV_HWPOISON = 100;
export const MADV_SOFT_OFFLINE = 101;
export const MADV_GUARD_INSTALL = 102;
export const MADV_GUARD_REMOVE = 103;

// memfd_create flags (include/uapi/linux/memfd.h)
export const MFD_CLOEXEC = 0x0001;
export const MFD_ALLOW_SEALING = 0x0002;
export const MFD_HUGETLB = 0x0004;
export const MFD_NOEXEC_SEAL = 0x0008;
export const MFD_EXEC = 0x0010;
/** memfd names are limited to NAME_MAX minus the "memfd:" prefix. */
export const MFD_NAME_MAX_LEN = 255 - 6;

// open flags used by the facade
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

/*
 * /proc/pid/pagemap entry (fs/proc/task_mmu.c, Documentation/admin-guide/mm/pagemap.rst):
 *
 *  63 62 61 60..59 58    57     56        55         54..0
 * +--+--+--+------+-----+------+---------+----------+--------------------------+
 * |P |S |F |  0   |GUARD|UFFDWP|EXCLUSIVE|SOFT_DIRTY| PFN, or swap type+offset |
 * +--+--+--+------+-----+------+---------+----------+--------------------------+
 *  P = PM_PRESENT, S = PM_SWAP, F = PM_FILE (file page or shared anon)
 */
export const PM_ENTRY_BYTES = 8;
export const PM_PFRAME_BITS = 55;
export const PM_PFRAME_MASK = (1n << 55n) - 1n;
export const PM_SOFT_DIRTY = 1n << 55n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_GUARD_REGION = 1n << 58n;
export const PM_FILE = 1n << 61n;
export const PM_SWAP = 1n << 62n;
export const PM_PRESENT = 1n << 63n;
/** Swap entries in pagemap: type in bits 0-4, offset above (MAX_SWAPFILES_SHIFT). */
export const MAX_SWAPFILES_SHIFT = 5;

// PAGEMAP_SCAN categories (include/uapi/linux/fs.h)
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;

/** The categories by name, for decoders and table-driven tests. */
export const PAGE_IS_NAMES = [
  ["PAGE_IS_WPALLOWED", PAGE_IS_WPALLOWED],
  ["PAGE_IS_WRITTEN", PAGE_IS_WRITTEN],
  ["PAGE_IS_FILE", PAGE_IS_FILE],
  ["PAGE_IS_PRESENT", PAGE_IS_PRESENT],
  ["PAGE_IS_SWAPPED", PAGE_IS_SWAPPED],
  ["PAGE_IS_PFNZERO", PAGE_IS_PFNZERO],
  ["PAGE_IS_HUGE", PAGE_IS_HUGE],
  ["PAGE_IS_SOFT_DIRTY", PAGE_IS_SOFT_DIRTY],
  ["PAGE_IS_GUARD", PAGE_IS_GUARD],
] as const;

/** PM_SCAN_CATEGORIES (fs/proc/task_mmu.c): every category v6.18 knows. */
export const PM_SCAN_CATEGORIES = PAGE_IS_NAMES.reduce((all, [, bit]) => all | bit, 0);

// PAGEMAP_SCAN flags (include/uapi/linux/fs.h)
/** Write-protect the pages matched (uffd-wp, for UFFD_FEATURE_WP_ASYNC dirty tracking). */
export const PM_SCAN_WP_MATCHING = 1 << 0;
/** Abort with EPERM on a VMA without WP_ASYNC write protection. */
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
/** PM_SCAN_FLAGS: the flags v6.18 accepts. */
export const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

/** PROCFS_IOCTL_MAGIC, the ioctl type byte of /proc/pid/pagemap's ioctls. */
export const PROCFS_IOCTL_MAGIC = 0x66;
/** sizeof(struct pm_scan_arg): twelve __u64 fields. */
export const PM_SCAN_ARG_SIZE = 96;
/** sizeof(struct page_region): start, end, categories. */
export const PAGE_REGION_SIZE = 24;
/** PAGEMAP_SCAN = _IOWR(PROCFS_IOCTL_MAGIC, 16, struct pm_scan_arg). */
export const PAGEMAP_SCAN = 3 * 2 ** 30 + PM_SCAN_ARG_SIZE * 2 ** 16 + PROCFS_IOCTL_MAGIC * 2 ** 8 +
  16;
/**
 * PAGEMAP_WALK_SIZE >> PAGE_SHIFT: the kernel's bounce buffer holds at most
 * this many page_regions (one PMD's worth of pages) before it copies them out.
 */
export const PAGEMAP_WALK_PAGES = 512;

// userfaultfd (include/uapi/linux/userfaultfd.h)
export * from "../userfaultfd/constants.ts";
