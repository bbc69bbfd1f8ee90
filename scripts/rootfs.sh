#!/bin/sh
# The root file system of Switchyard's container image: the compiled binary, exactly the shared
# libraries `ldd` says it loads (with the dynamic loader), the CA bundle, and the few /etc files
# the router reads. Nothing else: no shell, no /tmp.
#
# The Dockerfile copies the result into an empty (scratch) image, and
# test/integration/executable_test.ts builds the same tree, chroots into it and runs the router,
# so the image and its test cannot drift apart. Change one, run the other.
#
# Usage: scripts/rootfs.sh BINARY ROOTFS      (ROOTFS must not exist, or be empty)
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: $0 BINARY ROOTFS" >&2
  exit 2
fi
bin=$1
root=$2
# The image's user (the Dockerfile's USER): not root, as nothing but transparent mode needs root.
uid=65532
ca=/etc/ssl/certs/ca-certificates.crt

mkdir -p "$root"
if [ -n "$(ls -A "$root")" ]; then
  echo "$0: $root is not empty" >&2
  exit 2
fi
chmod 0755 "$root"

# Copies FILE, following symlinks, to the same path under the root.
put() {
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
  chmod a+r "$root$1"
}

install -m 0755 "$bin" "$root/switchyard"

# ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" for a library and
# "/lib64/ld-linux-x86-64.so.2 (0x...)" for the loader; linux-vdso.so.1 is the kernel's, no file.
deps=$(ldd "$bin")
if echo "$deps" | grep -q "not found"; then
  echo "$0: $bin needs libraries this system lacks:" >&2
  echo "$deps" >&2
  exit 1
fi
libs=$(echo "$deps" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
if [ -z "$libs" ]; then
  echo "$0: ldd listed no libraries for $bin" >&2
  exit 1
fi
for lib in $libs; do put "$lib"; done

# The bundle `ca: system` verifies backend certificates against (the Bun build reads it through
# --use-system-ca; mount your own over it to trust a private CA).
put "$ca"

# Who the user is, and name resolution from /etc/hosts, then DNS (the container runtime
# provides /etc/hosts and /etc/resolv.conf).
printf 'root:x:0:0:root:/:/sbin/nologin\nswitchyard:x:%s:%s:switchyard:/:/sbin/nologin\n' \
  "$uid" "$uid" >"$root/etc/passwd"
printf 'root:x:0:\nswitchyard:x:%s:\n' "$uid" >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

# Where the config goes (mounted there, or the working directory `healthcheck` reads it from).
mkdir "$root/etc/switchyard"
chmod 0755 "$root/etc/switchyard"
