import assert from "node:assert/strict";
import { parseSmapsEntry, splitSmaps } from "./smaps.ts";

// Two blocks of a real v6.18 /proc/self/smaps, shortened.
const FIXTURE = `7f6a4c000000-7f6a8c000000 rw-p 00000000 00:00 0 
Size:            1048576 kB
KernelPageSize:        4 kB
Rss:             1048576 kB
AnonHugePages:         0 kB
THPeligible:           0
VmFlags: rd wr mr mw me ac nh 
7f6a8c000000-7f6a8c010000 r--p 00000000 00:00 0 
Size:                 64 kB
Rss:                   0 kB
THPeligible:  
VmFlags: rd mr mw me ac 
`;

Deno.test("splitSmaps() cuts the text into one block per VMA", () => {
  assert.equal(splitSmaps(FIXTURE).length, 2);
});

Deno.test("parseSmapsEntry() reads the range, kB fields, THPeligible and VmFlags", () => {
  assert.deepEqual(parseSmapsEntry(splitSmaps(FIXTURE)[0]), {
    start: 0x7f6a4c000000,
    end: 0x7f6a8c000000,
    header: "rw-p 00000000 00:00 0",
    kB: { Size: 1048576, KernelPageSize: 4, Rss: 1048576, AnonHugePages: 0 },
    thpEligible: 0,
    vmFlags: ["rd", "wr", "mr", "mw", "me", "ac", "nh"],
  });
});

Deno.test("parseSmapsEntry() gives THPeligible null where the kernel printed nothing", () => {
  assert.equal(parseSmapsEntry(splitSmaps(FIXTURE)[1]).thpEligible, null);
});

Deno.test("parseSmapsEntry() rejects a block without a range, quoting its first line", () => {
  assert.throws(() => parseSmapsEntry("Size: 4 kB\n"), {
    name: "TypeError",
    message: 'not an smaps header line: "Size: 4 kB"',
  });
});
