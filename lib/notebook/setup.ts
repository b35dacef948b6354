/**
 * Set-up shared by `deno task lessons` and `deno task test`: Jupyter's
 * nbconvert and the Deno kernel must be installed before a lesson can run.
 *
 * 1. `jupyter nbconvert --version` must work. If it does not, root on Debian
 *    installs the Debian packages with apt-get (running `apt-get update` first
 *    if the install fails); anyone else gets the exact command to run.
 * 2. Jupyter must know a kernel named "deno". If it does not, or its program
 *    is gone, the running Deno registers itself with `deno jupyter --install`.
 * @module
 */
import { isAbsolute, join } from "node:path";
import { commandLine, type CommandResult, type RunCommand, runCommand } from "./_command.ts";

/** The Debian packages that provide `jupyter nbconvert --execute`. */
export const JUPYTER_PACKAGES = ["jupyter-notebook", "jupyter-nbconvert", "python3-nbclient"];

/** The kernel name the pipeline executes lessons with. */
export const KERNEL_NAME = "deno";

/** The machine the set-up acts on; tests pass a fake one. */
export interface SetupHost {
  run: RunCommand;
  isRoot: boolean;
  isDebian: boolean;
  /** The Deno executable that is running (it becomes the kernel). */
  denoPath: string;
  /** File contents, or undefined if there is no such file. */
  readTextFile(path: string): Promise<string | undefined>;
  /** `path` with symbolic links resolved (npm installs deno behind one). */
  realPath(path: string): Promise<string>;
  /** Progress messages for the person waiting. */
  log(message: string): void;
}

/** Set-up failed in a way the user must fix; the message says how. */
export class SetupError extends Error {
  override name = "SetupError";
}

/** This machine, logging to stderr. */
export function systemHost(): SetupHost {
  return {
    run: runCommand,
    isRoot: Deno.uid() === 0,
    isDebian: fileExistsSync("/etc/debian_version"),
    denoPath: Deno.execPath(),
    readTextFile: async (path) => {
      try {
        return await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }
    },
    realPath: (path) => Deno.realPath(path).catch(() => path),
    log: (message) => console.error(message),
  };
}

function fileExistsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Steps 1 and 2 of the module comment. */
export async function setUpJupyter(host: SetupHost = systemHost()): Promise<void> {
  await ensureJupyter(host);
  await ensureDenoKernel(host);
}

const NBCONVERT_VERSION = ["nbconvert", "--version"];

/** Step 1: make `jupyter nbconvert` available, or say how to. */
export async function ensureJupyter(host: SetupHost): Promise<void> {
  const probe = await host.run("jupyter", NBCONVERT_VERSION);
  if (probe.success) return;
  const why = failureReason(probe);
  if (!host.isRoot || !host.isDebian) throw new SetupError(installAdvice(host, why));

  host.log(`Jupyter's nbconvert is missing (${why}); installing it with apt-get.`);
  await aptInstall(host);
  const again = await host.run("jupyter", NBCONVERT_VERSION);
  if (!again.success) {
    throw new SetupError(
      `\`jupyter nbconvert --version\` still fails after installing ${
        JUPYTER_PACKAGES.join(" ")
      }: ${failureReason(again)}`,
    );
  }
}

/** `apt-get install`, with one `apt-get update` and retry if it fails. */
async function aptInstall(host: SetupHost): Promise<void> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", ...JUPYTER_PACKAGES];
  if ((await host.run("apt-get", install, { inherit: true, env })).success) return;

  host.log("apt-get install failed; running apt-get update and trying again.");
  const update = await host.run("apt-get", ["update"], { inherit: true, env });
  if (!update.success) {
    throw new SetupError(`\`apt-get update\` failed (${failureReason(update)})`);
  }
  const retry = await host.run("apt-get", install, { inherit: true, env });
  if (!retry.success) {
    throw new SetupError(`\`${commandLine("apt-get", install)}\` failed (${failureReason(retry)})`);
  }
}

/** The message for a user who must install Jupyter themselves. */
function installAdvice(host: SetupHost, why: string): string {
  const command = host.isDebian
    ? `sudo apt-get install -y ${JUPYTER_PACKAGES.join(" ")}`
    : "python3 -m pip install --user notebook nbconvert nbclient";
  return [
    `Jupyter's nbconvert is not installed (\`jupyter nbconvert --version\` failed: ${why}).`,
    "The lessons run through Jupyter with the Deno kernel. Install it with",
    "",
    `  ${command}`,
    "",
    "and run this command again.",
  ].join("\n");
}

/** Step 2: make sure Jupyter has a working "deno" kernel. */
export async function ensureDenoKernel(host: SetupHost): Promise<void> {
  const program = await registeredKernelProgram(host);
  if (program !== undefined && (await programExists(host, program))) {
    if (!(await runsThisDeno(host, program))) {
      host.log(
        `Note: Jupyter's "${KERNEL_NAME}" kernel runs ${program}, not ${host.denoPath}; ` +
          `to switch, run \`${commandLine(host.denoPath, ["jupyter", "--install", "--force"])}\`.`,
      );
    }
    return;
  }
  const args = ["jupyter", "--install", ...(program === undefined ? [] : ["--force"])];
  host.log(`Registering the Deno kernel with Jupyter: ${commandLine(host.denoPath, args)}`);
  const result = await host.run(host.denoPath, args);
  if (!result.success) {
    throw new SetupError(
      `\`${commandLine(host.denoPath, args)}\` failed (${failureReason(result)})`,
    );
  }
}

/**
 * The program (argv[0]) of Jupyter's "deno" kernel, or undefined if there is
 * none. Asks `jupyter kernelspec list --json`; Debian's packages above do not
 * include that subcommand, so failing that it reads `kernels/deno/kernel.json`
 * in Jupyter's data directories, as the subcommand would.
 */
export async function registeredKernelProgram(host: SetupHost): Promise<string | undefined> {
  const list = await host.run("jupyter", ["kernelspec", "list", "--json"]);
  if (list.success) {
    const specs = parseJson(list.stdout, "jupyter kernelspec list --json")?.kernelspecs;
    return kernelProgram(specs?.[KERNEL_NAME]?.spec);
  }
  const paths = await host.run("jupyter", ["--paths", "--json"]);
  if (!paths.success) throw new SetupError(`\`jupyter --paths\` failed (${failureReason(paths)})`);
  const dataDirs: string[] = parseJson(paths.stdout, "jupyter --paths --json")?.data ?? [];
  for (const dir of dataDirs) {
    const specPath = join(dir, "kernels", KERNEL_NAME, "kernel.json");
    const text = await host.readTextFile(specPath);
    if (text !== undefined) return kernelProgram(parseJson(text, specPath)) ?? "";
  }
  return undefined;
}

function kernelProgram(spec: { argv?: unknown } | undefined): string | undefined {
  const program = Array.isArray(spec?.argv) ? spec.argv[0] : undefined;
  return typeof program === "string" ? program : undefined;
}

// deno-lint-ignore no-explicit-any
function parseJson(text: string, origin: string): any {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SetupError(
      `${origin}: not JSON (${(error as Error).message}): ${text.slice(0, 200)}`,
    );
  }
}

/** True if `program` is the running Deno, perhaps behind a symbolic link. */
async function runsThisDeno(host: SetupHost, program: string): Promise<boolean> {
  if (!isAbsolute(program)) return false;
  return await host.realPath(program) === await host.realPath(host.denoPath);
}

/** A relative program is looked up on PATH when the kernel starts: trust it. */
async function programExists(host: SetupHost, program: string): Promise<boolean> {
  if (program === "") return false;
  if (!isAbsolute(program)) return true;
  const probe = await host.run(program, ["--version"]);
  return probe.success;
}

/** The last line a failed command printed (stderr first), or its exit code. */
export function failureReason(result: CommandResult): string {
  const lastLine = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean).at(-1);
  return lastLine(result.stderr) ?? lastLine(result.stdout) ?? `exit code ${result.code}`;
}
