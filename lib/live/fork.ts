/**
 * fork(2) for the live lab, with a child that runs no JavaScript.
 *
 * A Deno process has many threads (V8's, the runtime's); after fork(2) the
 * child has only the one that called it, and running JavaScript there could
 * wait for ever on a lock another thread held at the moment of the fork.
 * So the fork is made by a few x86-64 instructions (lib/live/machine_code.ts)
 * and the child never returns into JavaScript: it asks for SIGKILL when its
 * parent dies (prctl(PR_SET_PDEATHSIG)), exits if the parent is gone
 * already, and otherwise sleeps in pause(2) until it is killed.
 *
 * What the parent sees is what fork does to it: copy_page_range() has made
 * its private anonymous pages copy-on-write and shared with the child (the
 * pagemap's exclusive bit clears, a write copies), dropped uffd-wp where the
 * userfaultfd has no UFFD_FEATURE_EVENT_FORK, and so on — the child holds its
 * copy of the address space until {@link ParkedChild.exit}.
 * @module
 */

import { kill, waitpid } from "./libc.ts";
import { Assembler, executable, machineCodeUnavailable } from "./machine_code.ts";
import { errnoFromCode } from "./errno.ts";

const SYS_pause = 34, SYS_getpid = 39, SYS_fork = 57, SYS_getppid = 110, SYS_prctl = 157;
const SYS_exit_group = 231, PR_SET_PDEATHSIG = 1, SIGKILL = 9;

/** long fork_parked(void): the child's pid in the parent, -errno on failure. */
function forkCode(): number[] {
  const a = new Assembler()
    .op(0xb8).imm32(SYS_getpid).op(0x0f, 0x05) // getpid()
    .op(0x49, 0x89, 0xc0) // mov r8, rax: this process (syscall keeps r8)
    .op(0xb8).imm32(SYS_fork).op(0x0f, 0x05) // fork()
    .op(0x85, 0xc0) // test eax, eax
    .op(0x74, 0x01) // jz child
    .op(0xc3); // ret: the parent, rax = pid or -errno
  // child:
  a.op(0xb8).imm32(SYS_prctl) // mov eax, SYS_prctl
    .op(0xbf).imm32(PR_SET_PDEATHSIG) // mov edi, PR_SET_PDEATHSIG
    .op(0xbe).imm32(SIGKILL) // mov esi, SIGKILL
    .op(0x0f, 0x05) // syscall
    .op(0xb8).imm32(SYS_getppid).op(0x0f, 0x05) // getppid()
    .op(0x4c, 0x39, 0xc0) // cmp rax, r8
    .op(0x75, 0x09); // jne gone: the parent died before prctl
  const loop = a.here;
  a.op(0xb8).imm32(SYS_pause).op(0x0f, 0x05) // pause()
    .op(0xeb, (loop - (a.here + 2)) & 0xff); // jmp loop
  // gone:
  a.op(0xb8).imm32(SYS_exit_group) // mov eax, SYS_exit_group
    .op(0x31, 0xff) // xor edi, edi
    .op(0x0f, 0x05); // syscall
  return a.bytes;
}

let forkFn: Deno.UnsafeFnPointer<{ parameters: []; result: "i64" }> | undefined;

/** A child made by {@link forkParked}: it holds its copy of the address space until exit(). */
export class ParkedChild {
  private reaped = false;
  constructor(readonly pid: number) {}

  /** SIGKILL the child and reap it (idempotent). Returns 0, like the simulator's exit(). */
  exit(): 0 {
    if (this.reaped) return 0;
    this.reaped = true;
    kill(this.pid, SIGKILL);
    waitpid(this.pid);
    return 0;
  }

  [Symbol.dispose](): void {
    this.exit();
  }
}

/** fork(2) this process; the child sleeps until killed. Throws Errno (EAGAIN, ENOMEM). */
export function forkParked(): ParkedChild {
  const why = machineCodeUnavailable();
  if (why !== null) throw new Error(`fork: ${why}`);
  forkFn ??= new Deno.UnsafeFnPointer(
    Deno.UnsafePointer.create(BigInt(executable(forkCode())))!,
    { parameters: [], result: "i64" } as const,
  );
  const ret = Number(forkFn.call());
  if (ret < 0) throw errnoFromCode(-ret, "fork");
  return new ParkedChild(ret);
}
