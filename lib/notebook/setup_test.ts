import assert from "node:assert/strict";
import type { CommandOptions, CommandResult } from "./_command.ts";
import {
  ensureDenoKernel,
  ensureJupyter,
  failureReason,
  registeredKernelProgram,
  SetupError,
  type SetupHost,
} from "./setup.ts";

type Script = Record<string, Partial<CommandResult> | Partial<CommandResult>[]>;

/**
 * A host whose commands answer from `script` (keyed by the command line; a
 * list answers successive calls) and which records what ran.
 */
function fakeHost(script: Script, overrides: Partial<SetupHost> = {}) {
  const ran: string[] = [];
  const logged: string[] = [];
  const files: Record<string, string> = {};
  const host: SetupHost = {
    run: (program: string, args: readonly string[], _options?: CommandOptions) => {
      const line = [program, ...args].join(" ");
      ran.push(line);
      const entry = script[line];
      const answer = Array.isArray(entry) ? entry.shift() : entry;
      const result = { success: true, code: 0, stdout: "", stderr: "", ...answer };
      if (answer === undefined) Object.assign(result, fail("command not found: " + program));
      return Promise.resolve(result);
    },
    isRoot: true,
    isDebian: true,
    denoPath: "/usr/bin/deno",
    readTextFile: (path) => Promise.resolve(files[path]),
    realPath: (path) => Promise.resolve(path.replace("/usr/local/bin/", "/usr/bin/")),
    log: (message) => logged.push(message),
    ...overrides,
  };
  return { host, ran, logged, files };
}

function fail(stderr: string): Partial<CommandResult> {
  return { success: false, code: 1, stderr };
}

const INSTALL = "apt-get install -y jupyter-notebook jupyter-nbconvert python3-nbclient";

Deno.test("ensureJupyter() does nothing when nbconvert works", async () => {
  const { host, ran } = fakeHost({ "jupyter nbconvert --version": { stdout: "6.5.3\n" } });
  await ensureJupyter(host);
  assert.deepEqual(ran, ["jupyter nbconvert --version"]);
});

Deno.test("ensureJupyter() installs with apt-get as root on Debian", async () => {
  const { host, ran } = fakeHost({
    "jupyter nbconvert --version": [fail("command not found: jupyter"), {}],
    [INSTALL]: {},
  });
  await ensureJupyter(host);
  assert.deepEqual(ran, ["jupyter nbconvert --version", INSTALL, "jupyter nbconvert --version"]);
});

Deno.test("ensureJupyter() runs apt-get update when the install fails", async () => {
  const { host, ran } = fakeHost({
    "jupyter nbconvert --version": [fail("command not found: jupyter"), {}],
    [INSTALL]: [fail("E: Unable to locate package jupyter-notebook"), {}],
    "apt-get update": {},
  });
  await ensureJupyter(host);
  assert.deepEqual(ran, [
    "jupyter nbconvert --version",
    INSTALL,
    "apt-get update",
    INSTALL,
    "jupyter nbconvert --version",
  ]);
});

Deno.test("ensureJupyter() gives up when the retried install fails", async () => {
  const { host } = fakeHost({
    "jupyter nbconvert --version": fail("command not found: jupyter"),
    [INSTALL]: [fail(""), { success: false, code: 100 }],
    "apt-get update": {},
  });
  await assert.rejects(ensureJupyter(host), {
    name: "SetupError",
    message: `\`${INSTALL}\` failed (exit code 100)`,
  });
});

Deno.test("ensureJupyter() tells a non-root Debian user the exact command", async () => {
  const { host, ran } = fakeHost(
    { "jupyter nbconvert --version": fail("command not found: jupyter") },
    { isRoot: false },
  );
  await assert.rejects(ensureJupyter(host), (error: Error) => {
    assert.ok(error instanceof SetupError);
    assert.match(error.message, /failed: command not found: jupyter/);
    assert.match(error.message, new RegExp(`\n  sudo ${INSTALL}\n`));
    return true;
  });
  assert.deepEqual(ran, ["jupyter nbconvert --version"]);
});

Deno.test("ensureJupyter() tells a user off Debian to use pip", async () => {
  const { host } = fakeHost(
    { "jupyter nbconvert --version": fail("Jupyter command `jupyter-nbconvert` not found.") },
    { isDebian: false },
  );
  await assert.rejects(
    ensureJupyter(host),
    /jupyter-nbconvert` not found\.\)[^]*python3 -m pip install --user notebook nbconvert nbclient/,
  );
});

const kernelList = (argv: string[]) => ({
  stdout: JSON.stringify({ kernelspecs: { deno: { resource_dir: "/k", spec: { argv } } } }),
});

Deno.test("ensureDenoKernel() keeps a registered deno kernel", async () => {
  const { host, ran, logged } = fakeHost({
    "jupyter kernelspec list --json": kernelList(["/usr/bin/deno", "jupyter", "--kernel"]),
    "/usr/bin/deno --version": {},
  });
  await ensureDenoKernel(host);
  assert.deepEqual(ran, ["jupyter kernelspec list --json", "/usr/bin/deno --version"]);
  assert.deepEqual(logged, []);
});

Deno.test("ensureDenoKernel() sees through a symbolic link to the same deno", async () => {
  const { host, logged } = fakeHost({
    "jupyter kernelspec list --json": kernelList(["/usr/local/bin/deno", "jupyter", "--kernel"]),
    "/usr/local/bin/deno --version": {},
  });
  await ensureDenoKernel(host);
  assert.deepEqual(logged, []);
});

Deno.test("ensureDenoKernel() notes a kernel that runs another deno", async () => {
  const { host, logged } = fakeHost({
    "jupyter kernelspec list --json": kernelList(["/opt/deno", "jupyter", "--kernel"]),
    "/opt/deno --version": {},
  });
  await ensureDenoKernel(host);
  assert.match(logged[0], /runs \/opt\/deno, not \/usr\/bin\/deno/);
});

Deno.test("ensureDenoKernel() registers the running deno when none is listed", async () => {
  const { host, ran } = fakeHost({
    "jupyter kernelspec list --json": { stdout: '{"kernelspecs": {"python3": {}}}' },
    "/usr/bin/deno jupyter --install": {},
  });
  await ensureDenoKernel(host);
  assert.deepEqual(ran.at(-1), "/usr/bin/deno jupyter --install");
});

Deno.test("ensureDenoKernel() re-registers over a kernel whose program is gone", async () => {
  const { host, ran } = fakeHost({
    "jupyter kernelspec list --json": kernelList(["/tmp/gone/deno", "jupyter"]),
    "/usr/bin/deno jupyter --install --force": {},
  });
  await ensureDenoKernel(host);
  assert.deepEqual(ran, [
    "jupyter kernelspec list --json",
    "/tmp/gone/deno --version",
    "/usr/bin/deno jupyter --install --force",
  ]);
});

Deno.test("registeredKernelProgram() reads kernel.json when kernelspec is missing", async () => {
  const { host, files } = fakeHost({
    "jupyter kernelspec list --json": fail("Jupyter command `jupyter-kernelspec` not found."),
    "jupyter --paths --json": { stdout: '{"data": ["/root/.local/share/jupyter", "/usr/share"]}' },
  });
  assert.equal(await registeredKernelProgram(host), undefined);
  files["/usr/share/kernels/deno/kernel.json"] = '{"argv": ["/usr/bin/deno", "jupyter"]}';
  assert.equal(await registeredKernelProgram(host), "/usr/bin/deno");
});

Deno.test("ensureDenoKernel() reports a failed registration", async () => {
  const { host } = fakeHost({
    "jupyter kernelspec list --json": { stdout: '{"kernelspecs": {}}' },
    "/usr/bin/deno jupyter --install": fail("error: permission denied"),
  });
  await assert.rejects(ensureDenoKernel(host), {
    name: "SetupError",
    message: "`/usr/bin/deno jupyter --install` failed (error: permission denied)",
  });
});

Deno.test("failureReason() prefers the last line of stderr", () => {
  assert.equal(failureReason({ success: false, code: 2, stdout: "x\n", stderr: "a\nb\n" }), "b");
  assert.equal(failureReason({ success: false, code: 2, stdout: "x\n", stderr: "" }), "x");
  assert.equal(failureReason({ success: false, code: 2, stdout: "", stderr: "" }), "exit code 2");
});
