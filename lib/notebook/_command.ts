/**
 * Running external commands (jupyter, apt-get, deno) for the lesson pipeline.
 *
 * A missing program is an ordinary failed result (exit code 127, like a shell),
 * not an exception, so that callers can decide what "not installed" means.
 * @module
 */

/** What a finished command printed and how it exited. */
export interface CommandResult {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run one command. */
export interface CommandOptions {
  /** Working directory (default: the current one). */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Text written to the command's stdin. */
  stdin?: string;
  /** Let the command print straight to the terminal instead of capturing it. */
  inherit?: boolean;
}

/** Runs a command to completion; the shape tests replace with a fake. */
export type RunCommand = (
  program: string,
  args: readonly string[],
  options?: CommandOptions,
) => Promise<CommandResult>;

/** `program args…` as a person would type it, for messages. */
export function commandLine(program: string, args: readonly string[]): string {
  return [program, ...args].map(shellQuote).join(" ");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Runs `program` with Deno.Command; see {@link RunCommand}. */
export const runCommand: RunCommand = async (program, args, options = {}) => {
  const io = options.inherit ? "inherit" : "piped";
  const command = new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: io,
    stderr: io,
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { success: false, code: 127, stdout: "", stderr: `command not found: ${program}` };
    }
    throw error;
  }
  const feeding = options.stdin === undefined ? undefined : feed(child.stdin, options.stdin);
  const output = await child.output();
  await feeding;
  const decoder = new TextDecoder();
  return {
    success: output.success,
    code: output.code,
    stdout: options.inherit ? "" : decoder.decode(output.stdout),
    stderr: options.inherit ? "" : decoder.decode(output.stderr),
  };
};

/** Writes `text` to a child's stdin and closes it, while its output is read. */
async function feed(stdin: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch (error) {
    // A command that exits without reading all its input closes the pipe; its
    // exit status tells the real story.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}
