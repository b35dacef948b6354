/**
 * A simulated device mirroring a process (lib/test_hmm.c): `Dmirror`,
 * opened with `dmirrorOpen(process)` or `kernel.device(process)`.
 * @module
 */
export {
  Dmirror,
  dmirrorOpen,
  DPT_XA_TAG_ATOMIC,
  DPT_XA_TAG_READ,
  DPT_XA_TAG_WRITE,
} from "./test_hmm.ts";
export type { DmirrorEntry, DmirrorOptions, DmirrorStats } from "./test_hmm.ts";
