import assert from "node:assert/strict";
import { parseCrash } from "./execute.ts";

const timeout = `[NbConvertApp] Converting notebook into notebook
mm-lab: executing cell 0
mm-lab: executing cell 1
mm-lab: executing cell 3
[NbConvertApp] ERROR | Timeout waiting for execute reply (2s).
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/nbclient/client.py", line 778, in _async_poll_for_reply
_queue.Empty

During handling of the above exception, another exception occurred:

nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 2 seconds.
The message was: Cell execution timed out.
Here is a preview of the cell contents:
-------------------
await new Promise(r => setTimeout(r, 5000))
-------------------
`;

Deno.test("parseCrash() names the running cell and a timeout", () => {
  const crash = parseCrash(timeout);
  assert.equal(crash.cellIndex, 3);
  assert.equal(crash.reason, "timed out after 2 s (raise the limit with --timeout=SECONDS)");
  assert.deepEqual(crash.details, []);
});

Deno.test("parseCrash() explains a dead kernel", () => {
  const crash = parseCrash(
    "mm-lab: executing cell 5\nTraceback (most recent call last):\n" +
      "asyncio.exceptions.CancelledError\n\nnbclient.exceptions.DeadKernelError: Kernel died\n",
  );
  assert.equal(crash.cellIndex, 5);
  assert.match(crash.reason, /^the Deno kernel died/);
});

Deno.test("parseCrash() passes other exceptions on, before any cell ran", () => {
  const crash = parseCrash(
    "Traceback (most recent call last):\n" +
      "jupyter_client.kernelspec.NoSuchKernel: No such kernel named deno\n",
  );
  assert.equal(crash.cellIndex, undefined);
  assert.equal(crash.reason, "jupyter_client.kernelspec.NoSuchKernel: No such kernel named deno");
  assert.deepEqual(crash.details, [
    "Traceback (most recent call last):",
    "jupyter_client.kernelspec.NoSuchKernel: No such kernel named deno",
  ]);
});

Deno.test("parseCrash() falls back to the last line", () => {
  assert.equal(parseCrash("something odd\n").reason, "nbconvert failed: something odd");
  assert.equal(parseCrash("").reason, "nbconvert failed: no message");
});
