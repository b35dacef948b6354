/**
 * Reference solutions of the exercises in notebooks/03_uffd_poison.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import { constants as C, swapTypes } from "../../lib/mod.ts";
import {
  type ClassifyInput,
  type MigrationScenario,
  type Outcome,
  type OutcomeInput,
  type PteClass,
  runMigration,
} from "../../lib/lessons/mod.ts";

/**
 * Exercise (a): none, then present (P or PROTNONE), then decode the swap
 * entry: type in bits 59-63, offset inverted in bits 9-58; compare the
 * type with the configuration's special types; for a marker, the bit
 * handle_pte_marker() looks at first.
 */
export function classifyPte({ pte, config }: ClassifyInput): PteClass {
  if (pte === 0n) return "none";
  if (pte & 0x101n) return "present";
  const type = Number(pte >> 59n);
  const offset = (~pte >> 9n) & ((1n << 50n) - 1n);
  const t = swapTypes(config);
  if (type < t.MAX_SWAPFILES) return "swap";
  if (type === t.SWP_HWPOISON) return "hwpoison";
  if (
    [t.SWP_MIGRATION_READ, t.SWP_MIGRATION_READ_EXCLUSIVE, t.SWP_MIGRATION_WRITE].includes(type)
  ) {
    return "migration";
  }
  if (type !== t.SWP_PTE_MARKER) return "device";
  if (offset & 2n) return "marker:poisoned";
  if (offset & 4n) return "marker:guard";
  return "marker:uffd-wp";
}

/**
 * Exercise (b): a poison (real or marker) is VM_FAULT_HWPOISON; do_sigbus()
 * reports it as a machine check only with MEMORY_FAILURE, and logs unless
 * the fault carries the silent bit, which only the marker sets. A guard
 * marker is SIGSEGV; nothing else here kills.
 */
export function predictOutcome(i: OutcomeInput): Outcome {
  // A swapin error left by swapoff() is the very marker UFFDIO_POISON installs.
  const marker = i.entry === "marker:poisoned" || i.entry === "marker:swapin-error";
  if (i.entry === "hwpoison" || marker) {
    if (!i.MEMORY_FAILURE) return { signal: "SIGBUS", code: "BUS_ADRERR", logged: false };
    return { signal: "SIGBUS", code: "BUS_MCEERR_AR", logged: !(marker && i.silentPoison) };
  }
  // A slot that cannot be read at fault time: do_swap_page() → VM_FAULT_SIGBUS.
  if (i.entry === "swap:read-error") return { signal: "SIGBUS", code: "BUS_ADRERR", logged: false };
  if (i.entry === "marker:guard") return { signal: "SIGSEGV", code: "SEGV_MAPERR", logged: false };
  return { signal: null, code: null, logged: false };
}

/** Exercise (c): UFFDIO_POISON for a bad page, UFFDIO_COPY of the received data otherwise. */
export function migrate(s: MigrationScenario): string[] {
  return runMigration(s, (f) => {
    if (f.poisoned) f.uffd.poison({ range: { start: f.address, len: C.PAGE_SIZE }, mode: 0 });
    else f.uffd.copy({ dst: f.address, src: f.recv!, len: C.PAGE_SIZE, mode: 0 });
  }).destination;
}
