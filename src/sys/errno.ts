/**
 * errno values (Linux, the generic numbering x86-64 and arm64 share) turned into messages that
 * say what failed and, where it is a matter of privileges, what is missing.
 *
 * A table rather than strerror(3): the text stays the same whatever the C library or locale,
 * and tests can pin it.
 *
 * @module
 */

/** errno → [symbolic name, description]. */
const ERRNO: ReadonlyMap<number, readonly [string, string]> = new Map([
  [1, ["EPERM", "Operation not permitted"]],
  [2, ["ENOENT", "No such file or directory"]],
  [4, ["EINTR", "Interrupted system call"]],
  [9, ["EBADF", "Bad file descriptor"]],
  [11, ["EAGAIN", "Resource temporarily unavailable"]],
  [12, ["ENOMEM", "Cannot allocate memory"]],
  [13, ["EACCES", "Permission denied"]],
  [14, ["EFAULT", "Bad address"]],
  [19, ["ENODEV", "No such device"]],
  [22, ["EINVAL", "Invalid argument"]],
  [23, ["ENFILE", "Too many open files in system"]],
  [24, ["EMFILE", "Too many open files"]],
  [88, ["ENOTSOCK", "Socket operation on non-socket"]],
  [92, ["ENOPROTOOPT", "Protocol not available"]],
  [93, ["EPROTONOSUPPORT", "Protocol not supported"]],
  [97, ["EAFNOSUPPORT", "Address family not supported by protocol"]],
  [98, ["EADDRINUSE", "Address already in use"]],
  [99, ["EADDRNOTAVAIL", "Cannot assign requested address"]],
  [100, ["ENETDOWN", "Network is down"]],
  [101, ["ENETUNREACH", "Network is unreachable"]],
  [103, ["ECONNABORTED", "Software caused connection abort"]],
  [104, ["ECONNRESET", "Connection reset by peer"]],
  [105, ["ENOBUFS", "No buffer space available"]],
  [106, ["EISCONN", "Transport endpoint is already connected"]],
  [110, ["ETIMEDOUT", "Connection timed out"]],
  [111, ["ECONNREFUSED", "Connection refused"]],
  [113, ["EHOSTUNREACH", "No route to host"]],
  [114, ["EALREADY", "Operation already in progress"]],
  [115, ["EINPROGRESS", "Operation now in progress"]],
]);

export const EPERM = 1;
export const EINTR = 4;
export const EACCES = 13;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ETIMEDOUT = 110;
export const EINPROGRESS = 115;

/** "ECONNREFUSED", or "errno 200" for a number not in the table. */
export function errnoName(errno: number): string {
  return ERRNO.get(errno)?.[0] ?? `errno ${errno}`;
}

/** "ECONNREFUSED (Connection refused)", or "errno 200" for a number not in the table. */
export function describeErrno(errno: number): string {
  const e = ERRNO.get(errno);
  return e === undefined ? `errno ${errno}` : `${e[0]} (${e[1]})`;
}

/** A failed system call: `code` is the errno name, as Node reports it. */
export class SysError extends Error {
  readonly code: string;
  /**
   * `what`: the call and its subject ("bind 198.51.100.2:40000", "setsockopt IP_TRANSPARENT").
   * `hint`: what to do about it, appended to the message.
   */
  constructor(readonly what: string, readonly errno: number, hint?: string) {
    super(`${what}: ${describeErrno(errno)}${hint === undefined ? "" : `: ${hint}`}`);
    this.name = "SysError";
    this.code = errnoName(errno);
  }
}

/** Whether `errno` means the process lacks a privilege. */
export function isPrivilegeError(errno: number): boolean {
  return errno === EPERM || errno === EACCES;
}
