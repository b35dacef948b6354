import assert from "node:assert/strict";
import { FAULT_REPORT_BYTES, FAULT_REPORT_TAG, parseFaultReport } from "./fault_report.ts";
import { ffiStatus } from "./libc.ts";

/** A record as the handler writes it: the tag, then a siginfo_t. */
function record(signo: number, code: number, addr: bigint, lsb = 0): Uint8Array {
  const out = new Uint8Array(FAULT_REPORT_BYTES);
  out.set(FAULT_REPORT_TAG);
  const info = new DataView(out.buffer, FAULT_REPORT_TAG.length);
  info.setInt32(0, signo, true);
  info.setInt32(8, code, true);
  info.setBigUint64(16, addr, true);
  info.setInt16(24, lsb, true);
  return out;
}

Deno.test("parseFaultReport(): names the signal and si_code, reads si_addr and addr_lsb", () => {
  const noise = new TextEncoder().encode("a warning on stderr\n");
  const bytes = new Uint8Array([...noise, ...record(7, 4, 0x7f0000001000n, 12)]);
  assert.deepEqual(parseFaultReport(bytes), {
    signo: "SIGBUS",
    code: "BUS_MCEERR_AR",
    addr: 0x7f0000001000,
    addrLsb: 12,
  });
  // si_code 2 is SEGV_ACCERR for SIGSEGV and BUS_ADRERR for SIGBUS; lsb only for MCEERR.
  assert.deepEqual(parseFaultReport(record(11, 2, 0x5000n)), {
    signo: "SIGSEGV",
    code: "SEGV_ACCERR",
    addr: 0x5000,
  });
  assert.deepEqual(parseFaultReport(record(7, 2, 0x5000n, 3)), {
    signo: "SIGBUS",
    code: "BUS_ADRERR",
    addr: 0x5000,
  });
  assert.equal(parseFaultReport(noise), null);
  assert.equal(parseFaultReport(record(11, 1, 0n).subarray(0, FAULT_REPORT_BYTES - 1)), null);
});

const live = Deno.build.os === "linux" && Deno.build.arch === "x86_64" && ffiStatus().usable &&
  Deno.permissions.querySync({ name: "run" }).state === "granted";

Deno.test({
  name: "a child killed by a fault leaves the kernel's si_code and si_addr on stderr",
  ignore: !live,
  async fn() {
    const cases: [string, string, number][] = [
      // An unmapped page: SEGV_MAPERR at the byte read.
      ["munmap(a + 4096, 4096); view(a + 4096 + 5).getUint8();", "SEGV_MAPERR", 4096 + 5],
      // A PROT_NONE page: SEGV_ACCERR.
      ["mprotect(a, 4096, 0); view(a + 7).getUint8();", "SEGV_ACCERR", 7],
    ];
    for (const [body, code, offset] of cases) {
      const lib = new URL("./", import.meta.url).href;
      const source = `
        import { installFaultReporter } from "${lib}fault_report.ts";
        import { mmap, munmap, mprotect } from "${lib}libc.ts";
        const err = installFaultReporter();
        if (err !== null) throw new Error(err);
        const a = mmap(0, 8192, 3, 0x22);
        const view = (x) => new Deno.UnsafePointerView(Deno.UnsafePointer.create(BigInt(x)));
        console.log(a);
        ${body}`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=js", source],
        env: { DENO_NO_UPDATE_CHECK: "1" },
      }).output();
      assert.equal(out.signal, "SIGSEGV", new TextDecoder().decode(out.stderr));
      const base = Number(new TextDecoder().decode(out.stdout).trim());
      const report = parseFaultReport(out.stderr);
      assert.deepEqual(report, { signo: "SIGSEGV", code, addr: base + offset });
    }
  },
});
