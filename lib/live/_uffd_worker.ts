/**
 * The monitor thread of lib/live/uffd_server.ts: a Deno Worker with its own
 * FFI handle to libc that waits on a userfaultfd with poll(2), reads each
 * uffd_msg and resolves page faults with UFFDIO_ZEROPAGE or UFFDIO_COPY.
 *
 * Shared state (Int32Array over a SharedArrayBuffer): [0] stop request,
 * [1] faults served, [2] faults it could not resolve.
 * @module
 */
/// <reference lib="deno.worker" />

import { LiveUserfaultfd } from "./userfaultfd.ts";
import { poll, POLLIN } from "./libc.ts";
import { UFFD_EVENT_PAGEFAULT } from "../userfaultfd/constants.ts";
import { Errno } from "./errno.ts";

interface Start {
  fd: number;
  pageSize: number;
  resolve: "zeropage" | "copy";
  fill: number;
  shared: SharedArrayBuffer;
}

self.onmessage = (e: MessageEvent<Start>) => {
  const { fd, pageSize, resolve, fill, shared } = e.data;
  const state = new Int32Array(shared);
  const uffd = new LiveUserfaultfd(fd);
  const src = new Uint8Array(pageSize).fill(fill);
  const srcAddr = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(src)));
  self.postMessage("ready");
  while (Atomics.load(state, 0) === 0) {
    if (!(poll(fd, POLLIN, 10) & POLLIN)) continue;
    const msg = uffd.read();
    if (!msg || msg.event !== UFFD_EVENT_PAGEFAULT) continue;
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
  self.postMessage("stopped");
};
