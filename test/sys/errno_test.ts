/**
 * errno translation: names and texts from the table, SysError messages, and errno as read
 * through FFI right after real failing calls (no privileges needed).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeErrno, errnoName, isPrivilegeError, SysError } from "../../src/sys/errno.ts";
import { closeFd, openSocket, setOpt, startConnect } from "../../src/sys/socket.ts";

describe("errno translation", () => {
  test("known numbers have their name and text", () => {
    assert.equal(errnoName(111), "ECONNREFUSED");
    assert.equal(describeErrno(111), "ECONNREFUSED (Connection refused)");
    assert.equal(describeErrno(1), "EPERM (Operation not permitted)");
    assert.equal(describeErrno(99), "EADDRNOTAVAIL (Cannot assign requested address)");
    assert.equal(describeErrno(98), "EADDRINUSE (Address already in use)");
    assert.equal(describeErrno(110), "ETIMEDOUT (Connection timed out)");
  });

  test("an unknown number is still told", () => {
    assert.equal(errnoName(4242), "errno 4242");
    assert.equal(describeErrno(4242), "errno 4242");
  });

  test("SysError names the call, its subject, the errno and the hint", () => {
    const e = new SysError("setsockopt IP_TRANSPARENT", 1, "needs CAP_NET_ADMIN");
    assert.equal(
      e.message,
      "setsockopt IP_TRANSPARENT: EPERM (Operation not permitted): needs CAP_NET_ADMIN",
    );
    assert.equal(e.code, "EPERM");
    assert.equal(e.errno, 1);
    assert.equal(e.name, "SysError");
    assert.ok(e instanceof Error);
    assert.equal(new SysError("bind 198.51.100.2:0", 99).message.includes(": undefined"), false);
  });

  test("privilege errors are EPERM and EACCES", () => {
    assert.ok(isPrivilegeError(1));
    assert.ok(isPrivilegeError(13));
    assert.ok(!isPrivilegeError(98));
  });

  test("errno is read through FFI after a real failing setsockopt (ENOPROTOOPT)", () => {
    const fd = openSocket(4);
    try {
      assert.throws(
        () => setOpt(fd, 0, 9999, new Uint8Array(4), "option 9999"),
        (e: unknown) =>
          e instanceof SysError && e.code === "ENOPROTOOPT" &&
          e.message === "setsockopt option 9999: ENOPROTOOPT (Protocol not available)",
      );
    } finally {
      closeFd(fd);
    }
  });

  test("a failing connect reports errno with its address (EBADF on fd -1)", () => {
    assert.throws(
      () => startConnect(-1, "127.0.0.1", 9),
      (e: unknown) =>
        e instanceof SysError && e.code === "EBADF" &&
        /^connect 127\.0\.0\.1:9: EBADF \(Bad file descriptor\)$/.test(e.message),
    );
  });
});
