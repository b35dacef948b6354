import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { modelConfigFromKconfig, parseKconfig, readHostKconfig } from "./config.ts";
import { DEFAULT_CONFIG } from "../kernel/config.ts";
import { liveTestsEnabled } from "./_testing.ts";

const SAMPLE = [
  "# Memory Management options",
  "CONFIG_SHMEM=y",
  "# CONFIG_MEM_SOFT_DIRTY is not set",
  'CONFIG_LOCALVERSION="-amd64"',
  "CONFIG_KSM=m",
  "",
].join("\n");

Deno.test("parseKconfig() reads set, unset and string options", () => {
  const k = parseKconfig(SAMPLE);
  assert.equal(k.get("SHMEM"), "y");
  assert.equal(k.get("MEM_SOFT_DIRTY"), "n");
  assert.equal(k.get("LOCALVERSION"), "-amd64");
  assert.equal(k.get("KSM"), "m");
  assert.equal(k.size, 4);
});

Deno.test("modelConfigFromKconfig(): y and m are on, n and absent are off", () => {
  const c = modelConfigFromKconfig(parseKconfig(SAMPLE));
  assert.equal(c.SHMEM, true);
  assert.equal(c.KSM, true);
  assert.equal(c.MEM_SOFT_DIRTY, false);
  assert.equal(c.MEMORY_FAILURE, false, "absent from the .config");
  assert.deepEqual(Object.keys(c).sort(), Object.keys(DEFAULT_CONFIG).sort());
});

Deno.test("readHostKconfig() gunzips a config.gz", () => {
  const path = Deno.makeTempFileSync({ suffix: ".gz" });
  try {
    Deno.writeFileSync(path, gzipSync(new TextEncoder().encode(SAMPLE)));
    assert.equal(readHostKconfig(path).get("SHMEM"), "y");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("readHostKconfig() reads this host's /proc/config.gz", {
  ignore: !liveTestsEnabled(),
}, () => {
  let kconfig: Map<string, string>;
  try {
    kconfig = readHostKconfig();
  } catch (e) {
    console.log(`skipped: /proc/config.gz is not readable here (${(e as Error).message})`);
    return;
  }
  assert.ok(kconfig.has("MMU"), "every x86-64 and arm64 .config has CONFIG_MMU");
});
