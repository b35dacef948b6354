/**
 * The host kernel's build configuration, read from /proc/config.gz
 * (kernel/configs.c, CONFIG_IKCONFIG_PROC), and the simulator's
 * `simulate({ config })` options that match it.
 * @module
 */

import { gunzipSync } from "node:zlib";
import { DEFAULT_CONFIG, type KernelConfig } from "../kernel/config.ts";

/** Where CONFIG_IKCONFIG_PROC exposes the running kernel's .config. */
export const PROC_CONFIG_GZ = "/proc/config.gz";

/**
 * The options of a .config text, without the `CONFIG_` prefix:
 * `CONFIG_SHMEM=y` → `SHMEM: "y"`; `# CONFIG_MEM_SOFT_DIRTY is not set` →
 * `MEM_SOFT_DIRTY: "n"`. String values keep their quotes stripped.
 */
export function parseKconfig(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const line of text.split("\n")) {
    const set = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) {
      options.set(set[1], set[2].replace(/^"(.*)"$/, "$1"));
      continue;
    }
    const unset = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) options.set(unset[1], "n");
  }
  return options;
}

/** Read and parse /proc/config.gz; throws if the host does not expose it. */
export function readHostKconfig(path = PROC_CONFIG_GZ): Map<string, string> {
  const text = new TextDecoder().decode(gunzipSync(Deno.readFileSync(path)));
  return parseKconfig(text);
}

/**
 * The model's config options (lib/kernel/config.ts) as the host's kernel
 * has them: an option is on when it is `y` or `m`, off when it is `n` or
 * absent from the .config (Kconfig leaves out options whose dependencies are
 * off).
 */
export function modelConfigFromKconfig(kconfig: Map<string, string>): KernelConfig {
  const config = { ...DEFAULT_CONFIG };
  for (const name of Object.keys(DEFAULT_CONFIG) as (keyof KernelConfig)[]) {
    const value = kconfig.get(name);
    config[name] = value === "y" || value === "m";
  }
  return config;
}
