/**
 * The live-kernel lab: the same memory system calls as the simulator, made
 * on the host's real Linux kernel through Deno FFI to libc, plus a probe of
 * what the host can do.
 * @module
 */

export * from "./errno.ts";
export * from "./mman.ts";
export * from "./libc.ts";
export * from "./probe.ts";
export * from "./smaps.ts";
export * from "./vmstat.ts";
export * from "./config.ts";
export * from "./process.ts";
export * from "./userfaultfd.ts";
export * from "./uffd_server.ts";
export * from "./normalize.ts";
export * from "./scenario.ts";
export * from "./differential.ts";
