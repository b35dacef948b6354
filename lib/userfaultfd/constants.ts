/**
 * userfaultfd's user ABI (include/uapi/linux/userfaultfd.h, v6.18): the API
 * version, feature bits, ioctl numbers, register/ioctl modes, message
 * events and fault flags, with the kernel's names and values.
 * @module
 */

/** UFFD_API: the only API version. */
export const UFFD_API = 0xaa;
/** The ioctl type byte of every UFFDIO_* request. */
export const UFFDIO = 0xaa;

/** userfaultfd(2) flag: only handle faults from user mode. */
export const UFFD_USER_MODE_ONLY = 1;

// uffdio_api.features
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
export const UFFD_FEATURE_EVENT_REMAP = 1 << 2;
export const UFFD_FEATURE_EVENT_REMOVE = 1 << 3;
export const UFFD_FEATURE_MISSING_HUGETLBFS = 1 << 4;
export const UFFD_FEATURE_MISSING_SHMEM = 1 << 5;
export const UFFD_FEATURE_EVENT_UNMAP = 1 << 6;
export const UFFD_FEATURE_SIGBUS = 1 << 7;
export const UFFD_FEATURE_THREAD_ID = 1 << 8;
export const UFFD_FEATURE_MINOR_HUGETLBFS = 1 << 9;
export const UFFD_FEATURE_MINOR_SHMEM = 1 << 10;
export const UFFD_FEATURE_EXACT_ADDRESS = 1 << 11;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_POISON = 1 << 14;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
export const UFFD_FEATURE_MOVE = 1 << 16;

/** The feature bits, by name, for decoders and table-driven tests. */
export const UFFD_FEATURE_NAMES = [
  ["UFFD_FEATURE_PAGEFAULT_FLAG_WP", UFFD_FEATURE_PAGEFAULT_FLAG_WP],
  ["UFFD_FEATURE_EVENT_FORK", UFFD_FEATURE_EVENT_FORK],
  ["UFFD_FEATURE_EVENT_REMAP", UFFD_FEATURE_EVENT_REMAP],
  ["UFFD_FEATURE_EVENT_REMOVE", UFFD_FEATURE_EVENT_REMOVE],
  ["UFFD_FEATURE_MISSING_HUGETLBFS", UFFD_FEATURE_MISSING_HUGETLBFS],
  ["UFFD_FEATURE_MISSING_SHMEM", UFFD_FEATURE_MISSING_SHMEM],
  ["UFFD_FEATURE_EVENT_UNMAP", UFFD_FEATURE_EVENT_UNMAP],
  ["UFFD_FEATURE_SIGBUS", UFFD_FEATURE_SIGBUS],
  ["UFFD_FEATURE_THREAD_ID", UFFD_FEATURE_THREAD_ID],
  ["UFFD_FEATURE_MINOR_HUGETLBFS", UFFD_FEATURE_MINOR_HUGETLBFS],
  ["UFFD_FEATURE_MINOR_SHMEM", UFFD_FEATURE_MINOR_SHMEM],
  ["UFFD_FEATURE_EXACT_ADDRESS", UFFD_FEATURE_EXACT_ADDRESS],
  ["UFFD_FEATURE_WP_HUGETLBFS_SHMEM", UFFD_FEATURE_WP_HUGETLBFS_SHMEM],
  ["UFFD_FEATURE_WP_UNPOPULATED", UFFD_FEATURE_WP_UNPOPULATED],
  ["UFFD_FEATURE_POISON", UFFD_FEATURE_POISON],
  ["UFFD_FEATURE_WP_ASYNC", UFFD_FEATURE_WP_ASYNC],
  ["UFFD_FEATURE_MOVE", UFFD_FEATURE_MOVE],
] as const;

/** UFFD_API_FEATURES: every feature bit the v6.18 kernel knows. */
export const UFFD_API_FEATURES = UFFD_FEATURE_NAMES.reduce((all, [, bit]) => all | bit, 0);

// ioctl command numbers (the _UFFDIO_* "nr" of each request)
export const _UFFDIO_REGISTER = 0x00;
export const _UFFDIO_UNREGISTER = 0x01;
export const _UFFDIO_WAKE = 0x02;
export const _UFFDIO_COPY = 0x03;
export const _UFFDIO_ZEROPAGE = 0x04;
export const _UFFDIO_MOVE = 0x05;
export const _UFFDIO_WRITEPROTECT = 0x06;
export const _UFFDIO_CONTINUE = 0x07;
export const _UFFDIO_POISON = 0x08;
export const _UFFDIO_API = 0x3f;

/** _IOC() from include/uapi/asm-generic/ioctl.h: dir << 30 | size << 16 | type << 8 | nr. */
function ioc(dir: number, nr: number, size: number): number {
  return dir * 2 ** 30 + size * 2 ** 16 + UFFDIO * 2 ** 8 + nr;
}
const _IOC_WRITE = 1, _IOC_READ = 2;
const iowr = (nr: number, size: number) => ioc(_IOC_READ | _IOC_WRITE, nr, size);
const ior = (nr: number, size: number) => ioc(_IOC_READ, nr, size);

// The ioctl requests, with the size of the struct each one takes.
/** _IOWR(UFFDIO, _UFFDIO_API, struct uffdio_api) (24 bytes). */
export const UFFDIO_API = iowr(_UFFDIO_API, 24);
/** _IOWR(UFFDIO, _UFFDIO_REGISTER, struct uffdio_register) (32 bytes). */
export const UFFDIO_REGISTER = iowr(_UFFDIO_REGISTER, 32);
/** _IOR(UFFDIO, _UFFDIO_UNREGISTER, struct uffdio_range) (16 bytes). */
export const UFFDIO_UNREGISTER = ior(_UFFDIO_UNREGISTER, 16);
/** _IOR(UFFDIO, _UFFDIO_WAKE, struct uffdio_range). */
export const UFFDIO_WAKE = ior(_UFFDIO_WAKE, 16);
/** _IOWR(UFFDIO, _UFFDIO_COPY, struct uffdio_copy) (40 bytes). */
export const UFFDIO_COPY = iowr(_UFFDIO_COPY, 40);
/** _IOWR(UFFDIO, _UFFDIO_ZEROPAGE, struct uffdio_zeropage) (32 bytes). */
export const UFFDIO_ZEROPAGE = iowr(_UFFDIO_ZEROPAGE, 32);
/** _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move) (40 bytes). */
export const UFFDIO_MOVE = iowr(_UFFDIO_MOVE, 40);
/** _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, struct uffdio_writeprotect) (24 bytes). */
export const UFFDIO_WRITEPROTECT = iowr(_UFFDIO_WRITEPROTECT, 24);
/** _IOWR(UFFDIO, _UFFDIO_CONTINUE, struct uffdio_continue) (32 bytes). */
export const UFFDIO_CONTINUE = iowr(_UFFDIO_CONTINUE, 32);
/** _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison) (32 bytes). */
export const UFFDIO_POISON = iowr(_UFFDIO_POISON, 32);

/**
 * UFFD_API_IOCTLS: what UFFDIO_API reports in uffdio_api.ioctls. Bit 63
 * (_UFFDIO_API) does not fit a JavaScript number exactly, so this mask,
 * and the `ioctls` field api() returns, is a bigint.
 */
export const UFFD_API_IOCTLS = (1n << BigInt(_UFFDIO_REGISTER)) |
  (1n << BigInt(_UFFDIO_UNREGISTER)) | (1n << BigInt(_UFFDIO_API));
/** UFFD_API_RANGE_IOCTLS: what UFFDIO_REGISTER reports for anon and shmem. */
export const UFFD_API_RANGE_IOCTLS = (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) |
  (1 << _UFFDIO_ZEROPAGE) | (1 << _UFFDIO_MOVE) | (1 << _UFFDIO_WRITEPROTECT) |
  (1 << _UFFDIO_CONTINUE) | (1 << _UFFDIO_POISON);
/** UFFD_API_RANGE_IOCTLS_BASIC: for hugetlb ranges (no ZEROPAGE, no MOVE). */
export const UFFD_API_RANGE_IOCTLS_BASIC = (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) |
  (1 << _UFFDIO_WRITEPROTECT) | (1 << _UFFDIO_CONTINUE) | (1 << _UFFDIO_POISON);

// uffdio_register.mode
export const UFFDIO_REGISTER_MODE_MISSING = 1 << 0;
export const UFFDIO_REGISTER_MODE_WP = 1 << 1;
export const UFFDIO_REGISTER_MODE_MINOR = 1 << 2;

// modes of the range ioctls
export const UFFDIO_COPY_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_COPY_MODE_WP = 1 << 1;
export const UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_WRITEPROTECT_MODE_WP = 1 << 0;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1 << 1;
export const UFFDIO_CONTINUE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_CONTINUE_MODE_WP = 1 << 1;
export const UFFDIO_POISON_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_MOVE_MODE_DONTWAKE = 1 << 0;
export const UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 1 << 1;

// uffd_msg.event
export const UFFD_EVENT_PAGEFAULT = 0x12;
export const UFFD_EVENT_FORK = 0x13;
export const UFFD_EVENT_REMAP = 0x14;
export const UFFD_EVENT_REMOVE = 0x15;
export const UFFD_EVENT_UNMAP = 0x16;

// uffd_msg.arg.pagefault.flags
export const UFFD_PAGEFAULT_FLAG_WRITE = 1 << 0;
export const UFFD_PAGEFAULT_FLAG_WP = 1 << 1;
export const UFFD_PAGEFAULT_FLAG_MINOR = 1 << 2;
