#!/usr/bin/env bash
# `make demo`: boots the hello guest (later issues extend this into the
# showcase of emulated, virtio and passthrough devices).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ ! -r /dev/kvm ]; then
	echo "warden demo: /dev/kvm is not available on this machine; nothing to boot."
	exit 3
fi
echo "== warden run --cpus 2 --stats $BUILD/guest/hello.elf"
"$BUILD/warden" run --cpus 2 --stats --cmdline "demo=1" "$BUILD/guest/hello.elf"
rc=$?
echo "== guest exited with status $rc"
exit $rc
