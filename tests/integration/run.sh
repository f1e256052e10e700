#!/usr/bin/env bash
# Integration tests: boot the test guests and check what they print and the
# exit status. Prints one line per test: "PASS name", "FAIL name" (with
# DETAIL lines) or "SKIP name: why". WARDEN selects the binary (plain or
# sanitizer build).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
G=$BUILD/guest
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TIMEOUT=${TEST_TIMEOUT:-120}
have_kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && have_kvm=1

pass() { echo "PASS $1"; }
skip() { echo "SKIP $1: $2"; }
fail() {
	echo "FAIL $1"
	shift
	for d in "$@"; do echo "DETAIL $d"; done
	[ -s "$TMP/out" ] && tail -n 15 "$TMP/out" | sed 's/^/DETAIL   | /'
}

# run NAME ARGS... : runs warden, leaves output in $TMP/out, status in $rc
run() {
	timeout "$TIMEOUT" "$WARDEN" "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}

# expect NAME STATUS PATTERN... : status and every (extended regex) pattern
expect() {
	local name=$1 want=$2 p
	shift 2
	if [ "$rc" != "$want" ]; then fail "$name" "exit status $rc, want $want"; return; fi
	for p in "$@"; do
		if ! grep -Eq -- "$p" "$TMP/out"; then fail "$name" "output lacks /$p/"; return; fi
	done
	pass "$name"
}

needs_kvm() {
	if [ $have_kvm = 0 ]; then skip "$1" "/dev/kvm not available"; return 1; fi
	if [ ! -f "$2" ]; then fail "$1" "guest image $2 not built"; return 1; fi
	return 0
}

QEMU=$(command -v qemu-system-x86_64 || true)
qemu_run() {
	timeout "$TIMEOUT" "$QEMU" -machine q35 -accel kvm -nographic -no-reboot -m 256M -net none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}

# SUITE=t_name runs just that topic suite (for development).
if [ -n "${SUITE:-}" ]; then
	. "tests/integration/$SUITE.sh"
	exit 0
fi

# --- command line and exit-status contract (no KVM needed) ---
run --version;                 expect cli-version 0 '^warden [0-9]+\.[0-9]+'
run --help;                    expect cli-help 0 'usage: warden run' '--cpus' '--host-mem'
run;                           expect cli-no-command 2 'usage'
run frobnicate;                expect cli-unknown-command 2 "unknown command 'frobnicate'"
run run;                       expect cli-no-kernel 2 'no KERNEL given'
run run --bogus "$G/hello.elf"; expect cli-unknown-option 2 "unknown option '--bogus'"
run run --cpus 0 "$G/hello.elf";  expect cli-bad-cpus 2 "invalid --cpus '0'"
run run --cpus 65 "$G/hello.elf"; expect cli-too-many-cpus 2 "invalid --cpus '65'"
run run --mem 12Q "$G/hello.elf"; expect cli-bad-mem 2 "invalid --mem"
run run --mem 1G --host-mem 256M "$G/hello.elf"; expect cli-host-mem-too-small 2 'does not fit in --host-mem'
run run --cmdline;             expect cli-missing-value 2 'needs a value'
run run "$TMP/nonexistent.elf";  expect load-missing-file 2 'nonexistent.elf: No such file'
printf 'this is not an ELF image at all, just text\n' >"$TMP/text.bin"
run run "$TMP/text.bin";        expect load-not-elf 2 'text.bin: '
if [ -f "$G/hello.elf" ]; then
	head -c 100 "$G/hello.elf" >"$TMP/trunc.elf"
	run run "$TMP/trunc.elf";     expect load-truncated 2 'trunc.elf: '
	n=$(wc -l <"$TMP/out")
	[ "$n" = 1 ] && pass load-error-is-one-line || fail load-error-is-one-line "$n lines of output"
	run run --kvm-device "$TMP/no-kvm" "$G/hello.elf"
	expect no-kvm-status-3 3 'cannot open .*no-kvm'
	run run --initrd "$TMP/nonexistent.img" "$G/hello.elf"
	expect load-missing-initrd 2 'initrd .*nonexistent.img'
fi

# --- guests ---
if needs_kvm hello "$G/hello.elf"; then
	run run "$G/hello.elf"
	expect hello 0 '^Hello from Warden guest \(boot protocol: pvh\)' 'fw_cfg: 256 MiB RAM, 1 cpus'
fi
if needs_kvm hello-cmdline "$G/hello.elf"; then
	run run --cmdline "console=ttyS0 warden.test=42" --mem 512M "$G/hello.elf"
	expect hello-cmdline 0 'cmdline: "console=ttyS0 warden.test=42"' 'fw_cfg: 512 MiB RAM'
fi
if needs_kvm hello-highmem "$G/hello.elf"; then
	run run --mem 3G "$G/hello.elf"
	expect hello-highmem 0 'mem 0x000100000000-0x00010fffffff ram' 'fw_cfg: 3072 MiB RAM'
fi
if needs_kvm hello-initrd "$G/hello.elf"; then
	head -c 100000 /dev/urandom >"$TMP/initrd.img"
	run run --initrd "$TMP/initrd.img" "$G/hello.elf"
	expect hello-initrd 0 'module 0: 0x[0-9a-f]+, 100000 bytes'
fi
if needs_kvm hello-multiboot "$G/hello-multiboot.elf"; then
	run run --cmdline "mb-arg=7" "$G/hello-multiboot.elf"
	expect hello-multiboot 0 '^Hello from Warden guest \(boot protocol: multiboot' 'mb-arg=7'
fi
if needs_kvm serial-file "$G/hello.elf"; then
	run run --serial "$TMP/console.txt" "$G/hello.elf"
	if [ "$rc" = 0 ] && grep -q '^Hello from Warden guest' "$TMP/console.txt" &&
	   ! grep -q 'Hello from Warden guest' "$TMP/out"; then pass serial-file
	else fail serial-file "status $rc; console file: $(head -c 200 "$TMP/console.txt" 2>/dev/null)"; fi
fi
if needs_kvm stats "$G/hello.elf"; then
	run run --stats "$G/hello.elf"
	expect stats 0 'vm exits +[0-9]+' 'io +[0-9]+' 'first serial byte' 'hypervisor canaries +intact'
fi
# An unhandled exception exits through debug-exit with 0x40 + vector.
if needs_kvm fault "$G/fault.elf"; then
	run run "$G/fault.elf"
	expect fault 157 '#PF' 'CR2=0x0*500000000'
	run run --cmdline ring3 "$G/fault.elf"
	expect fault-ring3 157 '#PF' 'CR2='
fi
if needs_kvm irq "$G/irq.elf"; then
	run run "$G/irq.elf"
	expect irq 0
	run run --cmdline unregistered "$G/irq.elf"
	expect irq-unregistered-vector 151 '#NP'
fi
if needs_kvm guest-selftest "$G/selftest.elf"; then
	run run "$G/selftest.elf"
	expect guest-selftest 0
fi
if needs_kvm ring3 "$G/ring3.elf"; then
	run run "$G/ring3.elf"
	expect ring3 0 'ring3: ok'
fi
for n in 1 2 4; do
	if needs_kvm "smp-$n" "$G/smp.elf"; then
		run run --cpus $n "$G/smp.elf"
		expect "smp-$n" 0 "smp: $n/$n cpus checked in"
	fi
done
if needs_kvm exit-debug-code "$G/exitcode.elf"; then
	run run --cmdline "code=5" "$G/exitcode.elf";   expect exit-debug-code 11
	run run --cmdline "code=0" "$G/exitcode.elf";   expect exit-debug-code-0 1
	run run --cmdline "code=100" "$G/exitcode.elf"; expect exit-debug-code-100 201
	run run --cmdline "poweroff" "$G/exitcode.elf"; expect exit-poweroff 0
	run run --cmdline "triple" "$G/exitcode.elf"
	expect exit-triple-fault 1 'triple fault' 'rip='
	# A guest halted for good is stopped by the host's signal: 128 + SIGTERM.
	timeout --preserve-status -s TERM 2 "$WARDEN" run --cmdline hlt "$G/exitcode.elf" >"$TMP/out" 2>&1
	rc=$?
	expect exit-host-signal 143 'stopping on signal 15'
fi

# --- NVMe, emulated and passthrough: the same controller logic two ways ---
truncate -s 64M "$TMP/disk.img"
for mode in emulated passthrough; do
	if needs_kvm "nvme-selftest-$mode" "$G/nvme-selftest.elf"; then
		run run --stats --disk "path=$TMP/disk.img,type=nvme,mode=$mode" "$G/nvme-selftest.elf"
		expect "nvme-selftest-$mode" 0 'nvme-selftest: PASS' 'hypervisor canaries +intact'
		run run --stats --disk "path=ram:32M,mode=$mode" "$G/nvme-selftest.elf"
		expect "nvme-selftest-ram-$mode" 0 'nvme-selftest: PASS'
	fi
	if needs_kvm "nvme-hostile-$mode" "$G/nvme-hostile.elf"; then
		run run --stats --disk "path=$TMP/disk.img,mode=$mode" "$G/nvme-hostile.elf"
		expect "nvme-hostile-$mode" 0 'nvme-hostile: all blocked' 'hypervisor canaries +intact'
		if grep -q 'NOT BLOCKED' "$TMP/out"; then fail "nvme-hostile-$mode-none-through"; else pass "nvme-hostile-$mode-none-through"; fi
	fi
	if needs_kvm "nvme-bench-$mode" "$G/nvme-bench.elf"; then
		run run --disk "path=ram:64M,mode=$mode" --cmdline "secs=0.2" "$G/nvme-bench.elf"
		expect "nvme-bench-$mode" 0 'nvme-bench: rr4k qd=1 ' 'nvme-bench: rr4k qd=32 ' 'nvme-bench: rw4k qd=32 ' 'nvme-bench: sr64k '
		grep -E '^nvme-bench: ' "$TMP/out" >"$TMP/bench-$mode.out"
	fi
done
# The point of passthrough: no userspace exit on the data path, where the
# emulated controller takes at least one per I/O (the doorbell write).
if [ -s "$TMP/bench-passthrough.out" ] && [ -s "$TMP/bench-emulated.out" ]; then
	if grep -vq ' exits=0 ' "$TMP/bench-passthrough.out"; then
		fail nvme-passthrough-zero-exits "$(head -5 "$TMP/bench-passthrough.out")"
	else pass nvme-passthrough-zero-exits; fi
	if grep -q ' exits=0 ' "$TMP/bench-emulated.out"; then
		fail nvme-emulated-exits-counted "$(head -5 "$TMP/bench-emulated.out")"
	else pass nvme-emulated-exits-counted; fi
fi
if needs_kvm nvme-passthrough-iommu-fault "$G/nvme-hostile.elf"; then
	run run --stats --disk "path=ram:16M,mode=passthrough" "$G/nvme-hostile.elf"
	expect nvme-passthrough-iommu-fault 0 'iommu faults +[1-9]'
fi
# --- virtio-blk: paravirtual, ioeventfd notifications, irqfd interrupts ---
if needs_kvm virtio-selftest "$G/virtio-selftest.elf"; then
	run run --stats --disk "path=$TMP/disk.img,type=virtio-blk" "$G/virtio-selftest.elf"
	expect virtio-selftest 0 'virtio-selftest: PASS' 'hypervisor canaries +intact'
	run run --disk "path=ram:32M,type=virtio-blk" "$G/virtio-selftest.elf"
	expect virtio-selftest-ram 0 'virtio-selftest: PASS'
fi
if needs_kvm virtio-hostile "$G/virtio-hostile.elf"; then
	run run --stats --disk "path=$TMP/disk.img,type=virtio-blk" "$G/virtio-hostile.elf"
	expect virtio-hostile 0 'virtio-hostile: all blocked' 'hypervisor canaries +intact'
	if grep -q 'NOT BLOCKED' "$TMP/out"; then fail virtio-hostile-none-through; else pass virtio-hostile-none-through; fi
fi
if needs_kvm virtio-bench "$G/virtio-bench.elf"; then
	run run --disk "path=ram:64M,type=virtio-blk" --cmdline "secs=0.2" "$G/virtio-bench.elf"
	expect virtio-bench 0 'virtio-bench: rr4k qd=1 ' 'virtio-bench: rr4k qd=32 ' 'virtio-bench: rw4k qd=32 ' 'virtio-bench: sr64k '
fi
run run --disk "path=ram:8M,type=virtio-blk,mode=passthrough" "$G/hello.elf"
expect disk-virtio-no-mode 2 'mode= applies to nvme'

# --- edu: the QEMU-compatible DMA test device (the attack gallery's engine) ---
if needs_kvm edu-selftest "$G/edu-selftest.elf"; then
	run run --stats --device edu --cmdline msi-dma "$G/edu-selftest.elf"
	expect edu-selftest 0 'edu-selftest: PASS' 'hypervisor canaries +intact'
fi
run run --device gpu "$G/hello.elf"
expect device-unknown 2 "invalid --device"

run run --disk "path=$TMP/missing-dir/none.img" "$G/hello.elf"
expect disk-missing-file 2 'none.img'
run run --disk "path=ram:8M,mode=sideways" "$G/hello.elf"
expect disk-bad-mode 2 "unknown mode 'sideways'"

# --- topic suites: tests/integration/t_*.sh are sourced here, in name order,
# and use the helpers above (run, expect, needs_kvm, qemu_run, $G, $TMP) ---
for suite in tests/integration/t_*.sh; do
	[ -f "$suite" ] && . "$suite"
done

# --- QEMU reference: the same images boot under qemu -kernel ---
if [ -z "$QEMU" ]; then
	skip qemu-hello "qemu-system-x86_64 not installed"
	skip qemu-smp "qemu-system-x86_64 not installed"
elif [ $have_kvm = 0 ]; then
	skip qemu-hello "/dev/kvm not available"
	skip qemu-smp "/dev/kvm not available"
else
	qemu_run -kernel "$G/hello.elf" -append "qemu-ref=1"
	expect qemu-hello 0 'Hello from Warden guest' 'qemu-ref=1'
	qemu_run -smp 4 -kernel "$G/smp.elf"
	expect qemu-smp 0 'smp: 4/4 cpus checked in'
	qemu_run -kernel "$G/exitcode.elf" -append "code=5"
	expect qemu-exit-debug-code 11
	qemu_run -kernel "$G/hello-multiboot.elf"
	expect qemu-hello-multiboot 0 'Hello from Warden guest'
	if [ -f "$G/nvme-selftest.elf" ]; then
		qemu_run -drive "file=$TMP/disk.img,if=none,id=d0,format=raw" \
			-device nvme,serial=warden0,drive=d0 -kernel "$G/nvme-selftest.elf"
		expect qemu-nvme-selftest 0 'nvme-selftest: PASS'
	fi
	if [ -f "$G/edu-selftest.elf" ]; then
		qemu_run -device edu -kernel "$G/edu-selftest.elf"
		expect qemu-edu-selftest 0 'edu-selftest: PASS'
	fi
	if [ -f "$G/virtio-selftest.elf" ]; then
		qemu_run -drive "file=$TMP/disk.img,if=none,id=d0,format=raw" \
			-device virtio-blk-pci,drive=d0,disable-legacy=on,serial=warden0 \
			-kernel "$G/virtio-selftest.elf"
		expect qemu-virtio-selftest 0 'virtio-selftest: PASS'
	fi
fi
