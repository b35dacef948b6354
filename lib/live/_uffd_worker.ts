/**
 * The monitor thread of lib/live/uffd_server.ts: a Deno Worker with its own
 * FFI handle to libc that waits with poll(2) on the userfaultfd the main
 * thread names, reads each uffd_msg and resolves page faults with
 * UFFDIO_ZEROPAGE or UFFDIO_COPY.
 *
 * Shared state (Int32Array over a SharedArrayBuffer): [0] stop request,
 * [1] faults served, [2] faults it could not resolve, [3] the descriptor
 * to serve (-1: none), [4] 1 while the worker may be using that
 * descriptor (the main thread waits for 0 before closing it). The log
 * (BigInt64Array): [0] messages read, then flags and address of each, as
 * many as fit; an entry is written before its count is raised.
 * @module
 */
/// <reference lib="deno.worker" />

import { LiveUserfaultfd } from "./userfaultfd.ts";
import { poll, POLLIN } from "./libc.ts";
import { UFFD_EVENT_PAGEFAULT } from "../userfaultfd/constants.ts";
import { Errno } from "./errno.ts";

interface Start {
  pageSize: number;
  resolve: "zeropage" | "copy";
  fill: number;
  shared: SharedArrayBuffer;
  log: SharedArrayBuffer;
}

self.onmessage = (e: MessageEvent<Start>) => {
  const { pageSize, resolve, fill, shared } = e.data;
  const state = new Int32Array(shared);
  const log = new BigInt64Array(e.data.log);
  const kept = (log.length - 1) / 2;
  const src = new Uint8Array(pageSize).fill(fill);
  const srcAddr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(src)));
  self.postMessage("ready");
  while (Atomics.load(state, 0) === 0) {
    const fd = Atomics.load(state, 3);
    if (fd < 0) {
      Atomics.store(state, 4, 0);
      Atomics.notify(state, 4);
      Atomics.wait(state, 3, -1, 10);
      continue;
    }
    Atomics.store(state, 4, 1);
    if (Atomics.load(state, 3) !== fd) continue; // changed meanwhile: look again
    if (!(poll(fd, POLLIN, 10) & POLLIN)) continue;
    const uffd = new LiveUserfaultfd(fd);
    const msg = uffd.read();
    if (!msg || msg.event !== UFFD_EVENT_PAGEFAULT) continue;
    const n = Number(Atomics.load(log, 0));
    if (n < kept) {
      Atomics.store(log, 1 + 2 * n, BigInt(msg.arg.pagefault.flags));
      Atomics.store(log, 2 + 2 * n, BigInt(msg.arg.pagefault.address));
    }
    Atomics.store(log, 0, BigInt(n + 1));
    const page = Math.floor(msg.arg.pagefault.address / pageSize) * pageSize;
    try {
      if (resolve === "zeropage") uffd.zeropage({ range: { start: page, len: pageSize } });
      else uffd.copy({ dst: page, src: srcAddr, len: pageSize });
      Atomics.add(state, 1, 1);
    } catch (err) {
      // EEXIST: another fault on the same page was resolved first; it woke us both.
      if (!(err instanceof Errno && err.errno === "EEXIST")) Atomics.add(state, 2, 1);
    }
  }
  Atomics.store(state, 4, 0);
  self.postMessage("stopped");
};
