/**
 * Reference solutions of the exercises in notebooks/05_device_exclusive.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import type { ForkInput, ForkOutcome, NotifierInput, ScheduleCost } from "../../lib/lessons/mod.ts";

/**
 * Exercise (a): unmap is UNMAP; a zap or a replaced page is CLEAR; a
 * protection change of the VMA is PROTECTION_VMA, fork's write-protect of
 * the COW mapping PROTECTION_PAGE; make_device_exclusive() sends EXCLUSIVE
 * with the device as owner; the restore after a CPU fault sends CLEAR in
 * v6.18 and EXCLUSIVE without owner up to v6.14; none → present sends
 * nothing.
 */
export function notifierEvents({ path, version }: NotifierInput): string[] {
  switch (path) {
    case "munmap":
      return ["MMU_NOTIFY_UNMAP"];
    case "MADV_DONTNEED":
    case "COW write":
      return ["MMU_NOTIFY_CLEAR"];
    case "mprotect":
      return ["MMU_NOTIFY_PROTECTION_VMA"];
    case "fork":
      return ["MMU_NOTIFY_PROTECTION_PAGE"];
    case "make_device_exclusive":
      return ["MMU_NOTIFY_EXCLUSIVE owner=device"];
    case "CPU fault on a device-exclusive entry":
      return [version === "v6.18" ? "MMU_NOTIFY_CLEAR" : "MMU_NOTIFY_EXCLUSIVE"];
    case "first write to a missing page":
      return [];
  }
}

/**
 * Exercise (b): the same in both versions. copy_page_range() notifies
 * PROTECTION_PAGE first, so the device loses the page either way; then
 * try_restore_exclusive_pte() either restores the parent's PTE (the child
 * then shares the page copy-on-write) or finds the folio locked and fails
 * fork() with EBUSY, leaving the entry in place.
 */
export function predictFork({ version, contended }: ForkInput): ForkOutcome {
  if (contended) {
    return {
      fork: "EBUSY",
      parent: version === "v6.18" ? "SWP_DEVICE_EXCLUSIVE" : "SWP_DEVICE_EXCLUSIVE_WRITE",
      child: "none",
      shared: false,
      deviceAtomic: false,
    };
  }
  return { fork: "ok", parent: "present", child: "present", shared: true, deviceAtomic: false };
}

/**
 * Exercise (c): a device access without the page costs an acquisition
 * (make_device_exclusive(), one EXCLUSIVE invalidation that the device
 * filters); a CPU access to a page the device holds costs a fault, a
 * restore and a CLEAR invalidation. The CPU's write after its read does
 * not fault again: the restored PTE of an exclusive page is writable.
 */
export function scheduleCost(schedule: string): ScheduleCost {
  const cost = { faults: 0, invalidations: 0, restores: 0, acquisitions: 0 };
  let device = false;
  for (const who of schedule) {
    if (who === "D" && !device) {
      cost.acquisitions++;
      cost.invalidations++;
      device = true;
    } else if (who === "C" && device) {
      cost.faults++;
      cost.restores++;
      cost.invalidations++;
      device = false;
    }
  }
  return cost;
}
