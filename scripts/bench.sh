#!/usr/bin/env bash
# `make bench` (QUICK=1 for --quick): Warden's benchmark suite, in one run on
# one host. The same guest workloads (guest/rt/blkbench.c: 4 KiB random
# read and write at QD1 and QD32, 64 KiB sequential read at QD8) against
#   - Warden: NVMe emulated, NVMe passthrough, virtio-blk, each without and
#     with the guest vIOMMU (--viommu, the guest mapping and unmapping every
#     I/O strictly: blkbench viommu=1), passthrough also with mode=shadow;
#   - the same NVMe controller driven by a host thread, no VM
#     (bench/nvme_direct): the limit for our device;
#   - QEMU (-machine q35 -accel kvm) with -device nvme and
#     -device virtio-blk-pci, the same guest images;
# QEMU and Warden over the same backing file (one raw file, io_uring, page
# cache), Warden and the limit also over a RAM disk (the vIOMMU rows only
# there). Repetitions are interleaved (A B C A B C ...). Then microbenchmarks: VM exit round
# trips (guest/progs/exitbench.c, Warden and QEMU), bench/iommu and
# bench/viommu, boot time (Warden and QEMU), and in full mode bench/blk.
#
# Every VM runs under bench/vmrun, which samples the VMM process's CPU time
# and KVM's userspace-exit tracepoint as each console line arrives; the
# guests print markers around each workload (marks=1), so CPU time and
# exits per I/O cover the workload's window only (docs/benchmarks.md,
# "Method").
#
# Output: bench/results/latest.json, latest.md and latest.png (the chart,
# when gnuplot is installed), latest.txt (the tables as printed at the
# end); a full run also writes docs/benchmarks.md and
# docs/benchmarks.png (--docs does that for a quick run too). Raw logs of
# the last run: bench/results/raw/.
#
#   scripts/bench.sh [--quick] [--reps N] [--secs S] [--only ID,ID...]
#                    [--no-micro] [--docs] [--nice N]
# --quick: 0.1 s per workload, 2 repetitions, fewer exit samples and boots
# (under a minute on the 2-core development host). --only takes the ids
# of scripts/bench.sh's CONFIGS list, and "micro". --nice N runs every
# measured process at niceness N (e.g. -10, as root) so that other work on
# a shared host disturbs the polled rows less; the default leaves
# priorities alone, and the report says how busy the host was.
# Environment: BUILD (default build), QUICK=1 (as --quick), BENCH_NICE.
set -u -o pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
W="$BUILD/warden"
G="$BUILD/guest"
B="$BUILD/bench"
RES=bench/results

QUICK=${QUICK:-0}
REPS= SECS= ONLY= MICRO=1 DOCS=0 NICE=${BENCH_NICE:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--reps) REPS=$2; shift ;;
	--secs) SECS=$2; shift ;;
	--only) ONLY=",$2," ; shift ;;
	--no-micro) MICRO=0 ;;
	--docs) DOCS=1 ;;
	--nice) NICE=$2; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
[ "$QUICK" = 1 ] || QUICK=0
if [ "$QUICK" = 1 ]; then
	SECS=${SECS:-0.1} REPS=${REPS:-2} EXN=300 BOOTS=1 MODE=quick
else
	SECS=${SECS:-1} REPS=${REPS:-3} EXN=2000 BOOTS=3 MODE=full
	DOCS=1
fi
DISK_MIB=256
QEMU=$(command -v qemu-system-x86_64 || true)
START=$(date +%s)

for f in "$W" "$B/vmrun" "$B/nvme_direct" "$G/nvme-bench.elf" "$G/virtio-bench.elf" "$G/exitbench.elf"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "bench.sh: $f is missing: make -j2 build/warden guest bench-bins" >&2
		exit 2
	fi
done

RAW=$(mktemp -d "${TMPDIR:-/tmp}/warden-bench.XXXXXX")
# The backing file: tmpfs when there is room, so the rw4k workloads do not
# wait on a real disk's writeback and every VMM sees the same page cache.
IMGDIR=
for d in /dev/shm "${TMPDIR:-/tmp}"; do
	if [ -d "$d" ] && [ -w "$d" ] && [ "$(df -Pm "$d" | awk 'NR==2 {print $4}')" -gt $((DISK_MIB * 2)) ]; then
		IMGDIR=$(mktemp -d "$d/warden-bench-img.XXXXXX") && break
	fi
done
[ -n "$IMGDIR" ] || IMGDIR=$RAW
IMG="$IMGDIR/disk.img"
cleanup() { rm -rf "$IMGDIR"; [ -d "$RAW" ] && rm -rf "$RAW"; }
trap cleanup EXIT
trap 'echo; echo "bench.sh: interrupted"; exit 130' INT TERM
dd if=/dev/zero of="$IMG" bs=1M count=$DISK_MIB status=none

elapsed() { echo $(( $(date +%s) - START )); }
# Percent of the host's CPU time other work used over one second: polled
# rows need whole cores, so the report says when the host was not quiet.
host_busy() {
	local a b
	read -r -a a < <(grep '^cpu ' /proc/stat)
	sleep 1
	read -r -a b < <(grep '^cpu ' /proc/stat)
	awk -v u="$(( (b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]) ))" \
	    -v i="$(( (b[4] + b[5]) - (a[4] + a[5]) ))" 'BEGIN {printf "%.0f", (u + i) ? 100 * u / (u + i) : 0}'
}
say() { printf '[%4ss] %s\n' "$(elapsed)" "$*"; }

# ---- the machine ----
{
	echo "mode=$MODE"
	echo "secs=$SECS"
	echo "reps=$REPS"
	echo "exitbench_n=$EXN"
	echo "boots_per_rep=$BOOTS"
	echo "disk_mib=$DISK_MIB"
	echo "nice=${NICE:-0}"
	echo "backing_dir=$IMGDIR"
	echo "backing_fs=$(df -PT "$IMGDIR" | awk 'NR==2 {print $2}')"
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel=$(uname -r)"
	echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
	echo "cpus=$(nproc)"
	echo "mem_mib=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
	echo "kvm_modules=$(ls /sys/module 2>/dev/null | grep -E '^kvm' | tr '\n' ' ')"
	echo "qemu=$([ -n "$QEMU" ] && "$QEMU" --version | head -1)"
	echo "warden=$("$W" --version 2>&1 | head -1)"
	echo "git=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo -dirty)"
	echo "gcc=$(gcc --version | head -1)"
	echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "busy_before_pct=$(host_busy)"
} >"$RAW/machine.env"
busy=$(awk -F= '/^busy_before_pct/ {print $2}' "$RAW/machine.env")
say "warden bench ($MODE: ${SECS}s per workload, $REPS repetitions, interleaved)"
say "host: load $(cut -d' ' -f1-3 /proc/loadavg); other work used ${busy}% of the CPUs in the last second"
[ "$busy" -ge 10 ] && say "warning: the host is not quiet; polled rows (passthrough, direct) will suffer"
say "backing file: $IMG (${DISK_MIB} MiB, $(awk -F= '/^backing_fs/ {print $2}' "$RAW/machine.env")); raw logs go to $RES/raw/"

have_kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && have_kvm=1
have_viommu=0
"$W" run --help 2>&1 | grep -q -- '--viommu' && have_viommu=1

# ---- configurations: id|label|vmm|attachment|viommu|backing ----
# Warden's rows run over the same file as QEMU's (the comparison the
# issue asks for) and over a RAM disk (the backend of the direct-device
# limit, and where the vIOMMU's own cost is not hidden behind the file
# backend's io_uring workers competing for the host's cores).
CONFIGS="direct-ram|direct (no VM), RAM disk|none|nvme-direct|-|ram
direct-file|direct (no VM), file|none|nvme-direct|-|file
w-nvme-emu|Warden NVMe emulated, file|warden|nvme-emulated|-|file
w-nvme-pt|Warden NVMe passthrough, file|warden|nvme-passthrough|-|file
w-virtio|Warden virtio-blk, file|warden|virtio-blk|-|file
w-nvme-emu-ram|Warden NVMe emulated, RAM disk|warden|nvme-emulated|-|ram
w-nvme-pt-ram|Warden NVMe passthrough, RAM disk|warden|nvme-passthrough|-|ram
w-virtio-ram|Warden virtio-blk, RAM disk|warden|virtio-blk|-|ram
w-nvme-emu-vi|Warden NVMe emulated + vIOMMU, RAM disk|warden|nvme-emulated|nested|ram
w-nvme-pt-vi|Warden NVMe passthrough + vIOMMU, RAM disk|warden|nvme-passthrough|nested|ram
w-virtio-vi|Warden virtio-blk + vIOMMU, RAM disk|warden|virtio-blk|nested|ram
w-nvme-pt-vis|Warden NVMe passthrough + vIOMMU (shadow), RAM disk|warden|nvme-passthrough|shadow|ram
q-nvme|QEMU NVMe (-device nvme), file|qemu|nvme-emulated|-|file
q-virtio|QEMU virtio-blk (-device virtio-blk-pci), file|qemu|virtio-blk|-|file"
echo "$CONFIGS" >"$RAW/configs.txt"

# Why a configuration cannot run, or "" if it can.
unavailable() {
	local id=$1 vmm=$2 vi=$3
	[ -n "$ONLY" ] && [[ "$ONLY" != *",$id,"* ]] && { echo "not selected (--only)"; return; }
	[ -f "$RAW/$id.unavailable" ] && { cat "$RAW/$id.unavailable"; return; }
	if [ "$vmm" != none ] && [ $have_kvm = 0 ]; then echo "/dev/kvm not available"; return; fi
	if [ "$vmm" = qemu ] && [ -z "$QEMU" ]; then echo "qemu-system-x86_64 not installed"; return; fi
	if [ "$vi" != - ] && [ $have_viommu = 0 ]; then echo "warden run has no --viommu yet"; return; fi
	echo ""
}

QEMU_BASE=(-machine q35 -accel kvm -nographic -no-reboot -m 256M -net none
	   -device isa-debug-exit,iobase=0xf4,iosize=4)
QEMU_DRIVE="file=$IMG,if=none,id=d0,format=raw,cache=writeback,aio=io_uring"
TMO=$(awk -v s="$SECS" 'BEGIN {printf "%d", s * 5 + 90}')

# The command of a configuration, one word per line (for mapfile).
command_of() {
	local id=$1 vi=$2 attach=$3 backing=$4 cmdline="secs=$SECS marks=1" prog disk path="path=$IMG"
	[ "$backing" = ram ] && path="path=ram:${DISK_MIB}M"
	case $attach in
	nvme-emulated) prog=nvme-bench disk="$path,type=nvme,mode=emulated" ;;
	nvme-passthrough) prog=nvme-bench disk="$path,type=nvme,mode=passthrough" ;;
	virtio-blk) prog=virtio-bench disk="$path,type=virtio-blk" ;;
	esac
	case $id in
	direct-file) printf '%s\n' "$B/nvme_direct" --secs "$SECS" --backend "$IMG" ;;
	direct-ram) printf '%s\n' "$B/nvme_direct" --secs "$SECS" --backend ram --size "$DISK_MIB" ;;
	w-*)
		printf '%s\n' "$W" run --disk "$disk"
		[ "$vi" != - ] && printf '%s\n' --viommu "mode=$vi" && cmdline="$cmdline viommu=1"
		printf '%s\n' --cmdline "$cmdline" "$G/$prog.elf" ;;
	q-nvme) printf '%s\n' "$QEMU" "${QEMU_BASE[@]}" -drive "$QEMU_DRIVE" -device nvme,drive=d0,serial=wbench0 \
			-kernel "$G/nvme-bench.elf" -append "$cmdline" ;;
	q-virtio) printf '%s\n' "$QEMU" "${QEMU_BASE[@]}" -drive "$QEMU_DRIVE" -device virtio-blk-pci,drive=d0 \
			-kernel "$G/virtio-bench.elf" -append "$cmdline" ;;
	esac
}

# "rr4k/1 6.6k  rr4k/32 185k ..." from a run's result lines.
summary() {
	awk -F'\t' '
	function human(v) { v += 0; return v >= 1e6 ? sprintf("%.2fM", v / 1e6) : v >= 1e3 ? sprintf("%.1fk", v / 1e3) : v }
	$1 == "L" && $NF ~ /^(nvme|virtio)-(bench|direct): [a-z0-9]+ qd=[0-9]+ ios=/ {
		split($NF, f, " "); qd = f[3]; sub("qd=", "", qd); io = f[5]; sub("iops=", "", io)
		printf "%s/%s %s  ", f[2], qd, human(io)
	}
	$1 == "L" && $NF ~ /viommu unavailable|FAIL|failed|: (.*) qd=[0-9]+: / && $NF !~ / ios=/ { printf "[%s]  ", $NF }
	$1 == "X" { printf "(status %s, %.1f s)", $3, $2 / 1000 }' "$1"
}

# "pio-out/ring=3 65.8us ..." from an exitbench run.
exit_summary() {
	awk -F'\t' '$1 == "L" && $NF ~ /^exitbench: / {
		split($NF, f, " "); sub("p50_ns=", "", f[5]); printf "%s/%s %.1fus  ", f[2], f[3], f[5] / 1000
	}' "$1"
}

run_logged() {   # file, command...
	local out=$1
	shift
	if [ -n "$NICE" ]; then
		nice -n "$NICE" "$B/vmrun" --timeout "$TMO" -- "$@" >"$out" 2>&1
	else
		"$B/vmrun" --timeout "$TMO" -- "$@" >"$out" 2>&1
	fi
}

# ---- the I/O rows, interleaved ----
nconf=$(echo "$CONFIGS" | wc -l)
for rep in $(seq 1 "$REPS"); do
	while IFS='|' read -r id label vmm attach vi backing; do
		why=$(unavailable "$id" "$vmm" "$vi")
		if [ -n "$why" ]; then
			[ "$rep" = 1 ] && say "rep $rep/$REPS  $label: skipped ($why)"
			echo "$why" >"$RAW/$id.unavailable"
			continue
		fi
		mapfile -t cmd < <(command_of "$id" "$vi" "$attach" "$backing")
		out="$RAW/$id.rep$rep.tsv"
		printf '%s\n' "${cmd[@]}" >"$RAW/$id.cmd"
		run_logged "$out" "${cmd[@]}" </dev/null
		# A VMM without the vIOMMU (no DMAR for the guest) is a missing
		# feature, not a failed run: the row says so and is not retried.
		if grep -q 'viommu unavailable' "$out"; then
			grep -m1 -o 'viommu unavailable: .*' "$out" >"$RAW/$id.unavailable"
		fi
		say "rep $rep/$REPS  $(printf '%-52s' "$label") $(summary "$out")"
	done <<<"$CONFIGS"
done

# ---- microbenchmarks ----
if [ $MICRO = 1 ] && { [ -z "$ONLY" ] || [[ "$ONLY" == *",micro,"* ]]; }; then
	if [ $have_kvm = 1 ]; then
		for rep in $(seq 1 "$REPS"); do
			run_logged "$RAW/exit-warden.rep$rep.tsv" "$W" run --cmdline "n=$EXN" "$G/exitbench.elf" </dev/null
			say "rep $rep/$REPS  exit round trip, Warden: $(exit_summary "$RAW/exit-warden.rep$rep.tsv")"
			if [ -n "$QEMU" ]; then
				run_logged "$RAW/exit-qemu.rep$rep.tsv" "$QEMU" "${QEMU_BASE[@]}" -kernel "$G/exitbench.elf" \
					-append "n=$EXN" </dev/null
				say "rep $rep/$REPS  exit round trip, QEMU:   $(exit_summary "$RAW/exit-qemu.rep$rep.tsv")"
			fi
			for b in $(seq 1 "$BOOTS"); do
				run_logged "$RAW/boot-warden.rep$rep.$b.tsv" "$W" run --cmdline boot "$G/exitbench.elf" </dev/null
				[ -n "$QEMU" ] && run_logged "$RAW/boot-qemu.rep$rep.$b.tsv" "$QEMU" "${QEMU_BASE[@]}" \
					-kernel "$G/exitbench.elf" -append boot </dev/null
			done
			say "rep $rep/$REPS  boot to exit: Warden $(awk -F'\t' '$1 == "X" {printf "%.0f ms", $2}' \
				"$RAW/boot-warden.rep$rep.1.tsv")$([ -n "$QEMU" ] && awk -F'\t' \
				'$1 == "X" {printf ", QEMU %.0f ms", $2}' "$RAW/boot-qemu.rep$rep.1.tsv")"
		done
	else
		say "exit round trips and boot time skipped: /dev/kvm not available"
	fi
	say "bench/iommu (host IOMMU model: translation, map/unmap, DMA) ..."
	${NICE:+nice -n "$NICE"} "$B/iommu" >"$RAW/micro-iommu.txt" 2>&1 || echo "bench/iommu failed: status $?" >>"$RAW/micro-iommu.txt"
	say "bench/viommu (nested vs shadow, per I/O) ..."
	if [ -x "$B/viommu" ]; then
		${NICE:+nice -n "$NICE"} "$B/viommu" $([ "$QUICK" = 1 ] && echo --quick) >"$RAW/micro-viommu.txt" 2>&1 ||
			echo "bench/viommu failed: status $?" >>"$RAW/micro-viommu.txt"
	else
		echo "bench/viommu not built" >"$RAW/micro-viommu.txt"
	fi
	if [ "$QUICK" = 0 ] && [ -x "$B/blk" ]; then
		say "bench/blk (block backends) ..."
		${NICE:+nice -n "$NICE"} "$B/blk" >"$RAW/micro-blk.txt" 2>&1 || echo "bench/blk failed: status $?" >>"$RAW/micro-blk.txt"
	fi
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/machine.env"
echo "busy_after_pct=$(host_busy)" >>"$RAW/machine.env"
echo "duration_s=$(elapsed)" >>"$RAW/machine.env"

# ---- report ----
rm -rf "$RES/raw"
mkdir -p "$RES"
cp -r "$RAW" "$RES/raw"
report_args=(--md "$RES/latest.md" --png "$RES/latest.png")
[ $DOCS = 1 ] && report_args+=(--docs docs/benchmarks.md --docs-png docs/benchmarks.png)
say "report ..."
if ! command -v python3 >/dev/null; then
	echo "bench.sh: python3 is needed for the report; the raw logs are in $RES/raw/" >&2
	exit 2
fi
python3 scripts/bench_report.py collect "$RES/raw" -o "$RES/latest.json" &&
	python3 scripts/bench_report.py report "$RES/latest.json" "${report_args[@]}" --print | tee "$RES/latest.txt"
status=$?
# The JSON the docs were made from, kept apart from the next quick run's.
[ $DOCS = 1 ] && [ $status = 0 ] && cp "$RES/latest.json" "$RES/docs.json"
say "done in $(elapsed) s: $RES/latest.json, $RES/latest.md$([ $DOCS = 1 ] && echo ", docs/benchmarks.md")"
exit $status
