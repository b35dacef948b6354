/**
 * The race behind the `ttp->address` check of make_device_exclusive_range()
 * (mm/rmap.c, v5.14-v6.14), as discussed in 001_5dec3032e006ff91.txt:
 * the function first GUPs the page mapped at address A, then, with the
 * folio locked, walks the folio's rmap converting every PTE that maps it
 * into a device-exclusive entry. Between the two the CPU may unmap A and
 * fault a new page in there. The walk then finds the old page mapped
 * nowhere, so "nothing maps it any more" (`!folio_mapcount()`) holds,
 * and without the check the function would report success for a page
 * that is not at A at all. The check (`args->valid`, set only when the
 * walk converted the PTE at A in the caller's mm, and it was writable)
 * makes it fail instead. Peter Xu's alternative seals the PTE during the
 * first walk: GUP's own page-table walk installs the entry under the PTE
 * lock, so no window is left. v6.15's make_device_exclusive() does a
 * second walk instead of the rmap walk (folio_walk_start() after the folio
 * lock): it converts the PTE only if it still maps the GUPed page,
 * writable, and otherwise starts over (here: reports failure).
 *
 * One PTE (address A), its lock, two pages, and two threads:
 *  - `device`: make_device_exclusive_range() on A (the variant's version);
 *  - `cpu`: MADV_DONTNEED on A (zap: invalidate, clear, drop the mapcount)
 *    then a write fault at A that maps a new page.
 *
 * The invariant: when the device's call reports success, the entry it
 * installed at A names the page it returns.
 * @module
 */
import { VmBugError } from "../kernel/bug.ts";
import { SpinLock } from "../kernel/locking.ts";
import type { RaceScenario } from "./run.ts";
import type { Step } from "./step.ts";

/** Which make_device_exclusive_range() to run. */
export type DeviceExclusiveRaceVariant = "no-check" | "ttp-address" | "seal" | "second-walk";

/** The PTE at A: none, a present page (writable), or a device-exclusive entry of a page. */
export type RacePte =
  | { kind: "none" }
  | { kind: "page"; pfn: number }
  | { kind: "exclusive"; pfn: number };

/** State of {@linkcode deviceExclusiveRace}. */
export interface DeviceExclusiveRaceState {
  /** The PTE at address A. */
  pte: RacePte;
  /** PTEs mapping each page (folio_mapcount()). */
  mapcount: Record<number, number>;
  /** The page GUP returned to the device, or 0. */
  gupPage: number;
  /** The page whose entry the device installed at A, or 0. */
  installedAtA: number;
  /** args->valid. */
  valid: boolean;
  /** What make_device_exclusive_range() reported for A. */
  result: "pending" | "success" | "failed";
  /** The PTE lock. */
  ptl: SpinLock;
}

const P1 = 0x101, P2 = 0x102;

/**
 * The scenario for one variant: "no-check" (the rmap walk without the
 * `ttp->address` check), "ttp-address" (the merged code), "seal"
 * (Peter's proposal: convert during GUP's walk) or "second-walk" (v6.15+:
 * walk the page table again instead of the rmap).
 */
export function deviceExclusiveRace(
  variant: DeviceExclusiveRaceVariant,
): RaceScenario<DeviceExclusiveRaceState> {
  function* device(s: DeviceExclusiveRaceState): Generator<Step, void> {
    // step 1: GUP (follow_page_pte() under the PTE lock), a reference taken.
    yield { op: "lock", lock: s.ptl };
    yield { op: "read", obj: "pte", label: "follow_page_pte()" };
    if (s.pte.kind !== "page") {
      yield { op: "unlock", lock: s.ptl };
      s.result = "failed";
      return;
    }
    s.gupPage = s.pte.pfn;
    if (variant === "seal") {
      // Peter's version: the first walk installs the entry at once.
      yield { op: "write", obj: ["pte", "mapcount"], label: "set_pte_at(entry)" };
      s.pte = { kind: "exclusive", pfn: s.gupPage };
      s.installedAtA = s.gupPage;
      s.mapcount[s.gupPage]--;
      s.valid = true;
    }
    yield { op: "unlock", lock: s.ptl };
    if (variant === "second-walk") {
      // v6.15+: folio_walk_start() at A; convert only if A still maps the page.
      yield { op: "lock", lock: s.ptl };
      yield { op: "write", obj: ["pte", "mapcount"], label: "folio_walk_start()" };
      if (s.pte.kind === "page" && s.pte.pfn === s.gupPage) {
        s.pte = { kind: "exclusive", pfn: s.gupPage };
        s.installedAtA = s.gupPage;
        s.result = "success"; // the mapping is kept: mapcount unchanged
      } else {
        s.result = "failed"; // the kernel goes back to GUP
      }
      yield { op: "unlock", lock: s.ptl };
      return;
    }
    // step 2: the rmap walk of the GUPed folio (folio locked; the folio
    // lock is not modelled: the CPU side never takes it here).
    yield { op: "read", obj: "mapcount", label: "rmap_walk(folio)" };
    if (variant !== "seal" && s.mapcount[s.gupPage] > 0) {
      yield { op: "lock", lock: s.ptl };
      yield { op: "write", obj: ["pte", "mapcount"], label: "set_pte_at(entry)" };
      if (s.pte.kind === "page" && s.pte.pfn === s.gupPage) {
        s.pte = { kind: "exclusive", pfn: s.gupPage };
        s.mapcount[s.gupPage]--;
        s.installedAtA = s.gupPage;
        if (variant === "ttp-address") s.valid = true; // the mm and address match, writable
      }
      yield { op: "unlock", lock: s.ptl };
    }
    // step 3: the verdict.
    yield { op: "read", obj: "mapcount", label: "!folio_mapcount()" };
    const checked = variant === "no-check" ? true : s.valid;
    s.result = checked && s.mapcount[s.gupPage] === 0 ? "success" : "failed";
  }
  function* cpu(s: DeviceExclusiveRaceState): Generator<Step, void> {
    // MADV_DONTNEED on A: zap_pte_range().
    yield { op: "lock", lock: s.ptl };
    yield { op: "write", obj: ["pte", "mapcount"], label: "zap_pte_range()" };
    // A ≤ v6.14 device-exclusive entry no longer counts in the mapcount;
    // a v6.15+ one does.
    if (s.pte.kind === "page" || (s.pte.kind === "exclusive" && variant === "second-walk")) {
      s.mapcount[s.pte.pfn]--;
    }
    s.pte = { kind: "none" };
    yield { op: "unlock", lock: s.ptl };
    // A write to A: do_anonymous_page() maps a new page.
    yield { op: "lock", lock: s.ptl };
    yield { op: "write", obj: ["pte", "mapcount"], label: "do_anonymous_page" };
    if (s.pte.kind === "none") {
      s.pte = { kind: "page", pfn: P2 };
      s.mapcount[P2] = 1;
    }
    yield { op: "unlock", lock: s.ptl };
  }
  return {
    name: `${
      {
        "no-check": "make_device_exclusive_range() without the ttp->address check",
        "ttp-address": "make_device_exclusive_range() with the ttp->address check",
        seal: "make_device_exclusive_range() sealing the PTE in the first walk",
        "second-walk": "make_device_exclusive() (v6.15+, a second page-table walk)",
      }[variant]
    } vs MADV_DONTNEED + refault`,
    setup() {
      const state: DeviceExclusiveRaceState = {
        pte: { kind: "page", pfn: P1 },
        mapcount: { [P1]: 1, [P2]: 0 },
        gupPage: 0,
        installedAtA: 0,
        valid: false,
        result: "pending",
        ptl: new SpinLock("ptl"),
      };
      return { state, threads: { device: device(state), cpu: cpu(state) } };
    },
    check(s) {
      if (s.result === "success" && s.installedAtA !== s.gupPage) {
        const at = s.pte.kind === "none" ? "nothing" : `pfn 0x${s.pte.pfn.toString(16)}`;
        throw new VmBugError(
          "device exclusive",
          `success reported for pfn 0x${s.gupPage.toString(16)}, which is not at A (A maps ${at})`,
          { gupPage: s.gupPage, installedAtA: s.installedAtA },
        );
      }
    },
  };
}
