import assert from "node:assert/strict";
import { ERRNO, errnoFromCode, errnoName } from "./errno.ts";
import { strerror } from "./libc.ts";
import { liveTestsEnabled } from "./_testing.ts";

Deno.test("ERRNO has the kernel's numbers for the errnos the memory calls return", () => {
  assert.deepEqual(
    {
      EPERM: ERRNO.EPERM,
      ENOENT: ERRNO.ENOENT,
      EAGAIN: ERRNO.EAGAIN,
      ENOMEM: ERRNO.ENOMEM,
      EACCES: ERRNO.EACCES,
      EFAULT: ERRNO.EFAULT,
      EBUSY: ERRNO.EBUSY,
      EEXIST: ERRNO.EEXIST,
      EINVAL: ERRNO.EINVAL,
      ENOSPC: ERRNO.ENOSPC,
      EMLINK: ERRNO.EMLINK,
      ENOSYS: ERRNO.ENOSYS,
      EOPNOTSUPP: ERRNO.EOPNOTSUPP,
      ESRCH: ERRNO.ESRCH,
      EHWPOISON: ERRNO.EHWPOISON,
    },
    {
      EPERM: 1,
      ENOENT: 2,
      EAGAIN: 11,
      ENOMEM: 12,
      EACCES: 13,
      EFAULT: 14,
      EBUSY: 16,
      EEXIST: 17,
      EINVAL: 22,
      ENOSPC: 28,
      EMLINK: 31,
      ENOSYS: 38,
      EOPNOTSUPP: 95,
      ESRCH: 3,
      EHWPOISON: 133,
    },
  );
});

Deno.test("errnoName() maps every ERRNO row back to its name", () => {
  for (const [name, n] of Object.entries(ERRNO)) assert.equal(errnoName(n), name, `errno ${n}`);
});

Deno.test("ERRNO numbers are distinct and all known to the host's libc", {
  ignore: !liveTestsEnabled(),
}, () => {
  const numbers = Object.values(ERRNO);
  assert.equal(new Set(numbers).size, numbers.length);
  for (const [name, n] of Object.entries(ERRNO)) {
    assert.doesNotMatch(strerror(n), /^Unknown error/, `${name} = ${n}`);
  }
});

Deno.test("errnoFromCode() names a number outside the table E<n>", () => {
  assert.equal(errnoName(4095), undefined);
  assert.equal(errnoFromCode(4095, "x").errno, "E4095");
  assert.equal(errnoFromCode(4095, "x").code, 4095);
});

Deno.test("Errno carries the name, number and call, and says them in its message", () => {
  const e = errnoFromCode(22, "madvise(0x1, 4096, MADV_DONTNEED)", "Invalid argument");
  assert.ok(e instanceof Error);
  assert.deepEqual(
    { name: e.name, errno: e.errno, code: e.code, syscall: e.syscall, message: e.message },
    {
      name: "Errno",
      errno: "EINVAL",
      code: 22,
      syscall: "madvise(0x1, 4096, MADV_DONTNEED)",
      message: "madvise(0x1, 4096, MADV_DONTNEED): EINVAL (Invalid argument)",
    },
  );
});
