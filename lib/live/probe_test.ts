import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { parseCapEff, parseCpuModel, parseMemTotal, parseSysfsChoice, probeHost } from "./probe.ts";

Deno.test("parseSysfsChoice() returns the bracketed value", () => {
  assert.equal(parseSysfsChoice("always [madvise] never\n"), "madvise");
  assert.equal(parseSysfsChoice("always defer defer+madvise [madvise] never"), "madvise");
  assert.equal(parseSysfsChoice("always [inherit] madvise never"), "inherit");
  assert.throws(() => parseSysfsChoice("always madvise"), {
    name: "TypeError",
    message: 'no [selected] value in sysfs text "always madvise"',
  });
});

Deno.test("parseCpuModel() takes the first model name", () => {
  const cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\n" +
    "model name\t: AMD EPYC 7B13\n";
  assert.equal(parseCpuModel(cpuinfo), "AMD EPYC 7B13");
});

Deno.test("parseMemTotal() converts kB to bytes", () => {
  assert.equal(parseMemTotal("MemTotal:       24567892 kB\nMemFree: 1 kB\n"), 24567892 * 1024);
  assert.throws(() => parseMemTotal("MemFree: 1 kB"), TypeError);
});

const live = liveTestsEnabled();

Deno.test("probeHost() on this Linux host fills every field", { ignore: !live }, () => {
  const probe = probeHost();
  assert.deepEqual(probe.missing, {});
  assert.equal(probe.os, "linux");
  assert.equal(probe.kernelRelease, Deno.osRelease());
  assert.ok(probe.cpuModel && probe.cpuModel.length > 0);
  assert.ok(probe.cores !== null && probe.cores >= 1);
  assert.ok(probe.memTotalBytes !== null && probe.memTotalBytes > 2 ** 26);
  assert.ok(probe.thp !== null);
  assert.ok(["always", "madvise", "never"].includes(probe.thp.enabled), probe.thp.enabled);
  assert.ok(probe.thp.defrag.length > 0);
  assert.equal(parseSysfsChoice(probe.thp.files.enabled), probe.thp.enabled);
  assert.deepEqual(
    Object.keys(probe.thp.files),
    ["enabled", "defrag", ...Object.keys(probe.thp.hugepages).map((d) => `${d}/enabled`)],
  );
  for (const [dir, value] of Object.entries(probe.thp.hugepages)) {
    assert.match(dir, /^hugepages-\d+kB$/);
    assert.ok(["always", "inherit", "madvise", "never"].includes(value), `${dir}: ${value}`);
  }
  assert.deepEqual(probe.ffi, { usable: true });
  assert.ok(probe.privileges !== null && Number.isInteger(probe.privileges.euid));
  assert.ok(probe.unprivilegedUserfaultfd === 0 || probe.unprivilegedUserfaultfd === 1);
  assert.ok(probe.uffd !== null && probe.uffd.featureNames.length > 0);
  assert.match(probe.uffd.ioctls, /^0x[0-9a-f]+$/);
  assert.equal(typeof probe.pagemapScan, "boolean");
  assert.equal(probe.nativeHelpers, Deno.build.arch === "x86_64" ? true : null);
  JSON.stringify(probe);
});

Deno.test("probeHost() without permissions reports why instead of throwing", {
  ignore: !live,
}, async () => {
  // A child Deno with no permissions at all runs the probe and prints it.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `import { probeHost } from ${JSON.stringify(import.meta.resolve("./probe.ts"))};
console.log(JSON.stringify(probeHost()));`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const probe = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(probe.kernelRelease, null);
  assert.equal(probe.thp, null);
  assert.equal(probe.memTotalBytes, null);
  assert.match(probe.missing.kernelRelease, /osRelease/);
  assert.match(probe.missing.thp, /transparent_hugepage/);
  assert.equal(probe.ffi.usable, false);
  assert.match(probe.ffi.reason, /--allow-ffi/);
  assert.equal(probe.uffd, null);
  assert.ok(probe.missing.uffd.length > 0);
});

Deno.test("parseCapEff(): the CapEff mask of /proc/self/status", () => {
  assert.equal(parseCapEff("Name:\tdeno\nCapEff:\t000001ffffffffff\n"), 0x1ffffffffffn);
  assert.throws(() => parseCapEff("Name: x\n"), TypeError);
});
