/**
 * Serving userfaults on the host kernel: a fault in a range registered with
 * UFFDIO_REGISTER_MODE_MISSING puts the faulting thread to sleep until the
 * monitor resolves it, so the monitor must be another thread. Here it is a
 * Deno Worker (lib/live/_uffd_worker.ts) with its own FFI handle; this
 * thread may then touch the range, and each first touch returns once the
 * worker has filled the page.
 *
 * ```ts
 * const server = await serveUserfaults(uffd, { resolve: "copy", fill: 0x41 });
 * p.read(addr);          // faults; the worker's UFFDIO_COPY fills the page with 0x41
 * await server.stop();   // server.served === 1
 * ```
 *
 * {@link startFaultServer} keeps one worker for many userfaultfds in turn
 * (`serve(uffd)`, `serve(null)` before closing it), as the differential
 * runner's child does.
 * @module
 */

import type { LiveUserfaultfd } from "./userfaultfd.ts";
import { pageSize } from "./libc.ts";

/** Fault messages the worker keeps per `serve()`; later ones are served, not kept. */
export const MESSAGE_LOG = 4096;

/** Options of {@link serveUserfaults}. */
export interface ServeOptions {
  /** How to resolve a missing fault: UFFDIO_ZEROPAGE or UFFDIO_COPY of a filled page. */
  resolve: "zeropage" | "copy";
  /** The byte UFFDIO_COPY's source page is filled with (default 0). */
  fill?: number;
}

/** A running monitor thread. */
export interface UffdServer {
  /** Faults resolved so far. */
  readonly served: number;
  /** Faults the worker failed to resolve (an ioctl error other than EEXIST). */
  readonly failed: number;
  /**
   * Serve `uffd` from now on, or nothing (null). Returns once the worker
   * no longer uses the previous descriptor, so that it may be closed.
   */
  serve(uffd: LiveUserfaultfd | null): void;
  /**
   * The page-fault messages the worker read since the last call (or since
   * `serve()`), oldest first; at most {@link MESSAGE_LOG} per `serve()`.
   */
  takeMessages(): { flags: number; address: number }[];
  /** Stop the worker (it notices within about 10 ms). */
  stop(): Promise<void>;
}

/** Start a monitor worker that serves no userfaultfd yet. */
export async function startFaultServer(options: ServeOptions): Promise<UffdServer> {
  const shared = new SharedArrayBuffer(20);
  const state = new Int32Array(shared);
  state[3] = -1;
  const log = new BigInt64Array(new SharedArrayBuffer(8 * (1 + 2 * MESSAGE_LOG)));
  let taken = 0;
  const worker = new Worker(new URL("./_uffd_worker.ts", import.meta.url), { type: "module" });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data as string);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`userfaultfd worker failed: ${e.message}`));
      };
    });
  const ready = next();
  worker.postMessage({
    pageSize: pageSize(),
    resolve: options.resolve,
    fill: options.fill ?? 0,
    shared,
    log: log.buffer,
  });
  await ready;
  let stopped = false;
  return {
    get served() {
      return Atomics.load(state, 1);
    },
    get failed() {
      return Atomics.load(state, 2);
    },
    serve(uffd: LiveUserfaultfd | null) {
      if (uffd) {
        Atomics.store(log, 0, 0n);
        taken = 0;
      }
      Atomics.store(state, 3, uffd ? uffd.fd : -1);
      Atomics.notify(state, 3);
      if (uffd) return;
      while (Atomics.load(state, 4) !== 0) Atomics.wait(state, 4, 1, 5);
    },
    takeMessages() {
      const n = Math.min(Number(Atomics.load(log, 0)), MESSAGE_LOG);
      const out = [];
      for (; taken < n; taken++) {
        const flags = Number(Atomics.load(log, 1 + 2 * taken));
        out.push({ flags, address: Number(Atomics.load(log, 2 + 2 * taken)) });
      }
      return out;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const done = next();
      Atomics.store(state, 0, 1);
      Atomics.notify(state, 3);
      await done;
      worker.terminate();
    },
  };
}

/** Start a worker thread that resolves the missing faults of `uffd`. */
export async function serveUserfaults(
  uffd: LiveUserfaultfd,
  options: ServeOptions,
): Promise<UffdServer> {
  const server = await startFaultServer(options);
  server.serve(uffd);
  return server;
}
