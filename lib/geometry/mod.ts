/**
 * Page-table geometries (x86-64, arm64 4K, powerpc 8xx, e500/32 and e500/64, book3s64 hash
 * and radix), each powerpc one with hugepd (≤ v6.10) and without (≥ v6.11);
 * hugetlb on each; the legacy and the generic page-table walkers; GUP fast and
 * slow with cost counters. `simulate()` stays the x86-64 process model: these
 * geometries are built with `geometry(platform, { hugepd })`.
 *
 * @module
 */
export * from "./geometry.ts";
export * from "./hugetlb.ts";
export * from "./pagewalk.ts";
export * from "./gup.ts";
export * from "./diagram.ts";
