#!/usr/bin/env bash
# `make bench`: every benchmark, one run, figures on stdout and in
# bench/results/. Performance figures come from here, never from tests.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mkdir -p bench/results
out=bench/results/latest.txt
{
	echo "# warden bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -r), $(nproc) cpus"
	grep -m1 'model name' /proc/cpuinfo
	for b in "$BUILD"/bench/*; do
		name=$(basename "$b")
		[ "$name" = boottime ] && continue
		[ -x "$b" ] || continue
		echo "## $name"
		"$b"
	done
	echo "## boot time (10 runs each; from exec to first console byte and to exit)"
	if [ -r /dev/kvm ]; then
		"$BUILD/bench/boottime" 10 warden Hello -- "$BUILD/warden" run "$BUILD/guest/hello.elf"
		if command -v qemu-system-x86_64 >/dev/null; then
			"$BUILD/bench/boottime" 10 qemu Hello -- qemu-system-x86_64 -machine q35 -accel kvm \
				-nographic -no-reboot -m 256M -net none \
				-device isa-debug-exit,iobase=0xf4,iosize=4 \
				-kernel "$BUILD/guest/hello.elf"
		else
			echo "qemu: not installed, skipped"
		fi
	else
		echo "skipped: /dev/kvm not available"
	fi
} 2>&1 | tee "$out"
