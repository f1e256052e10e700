#!/usr/bin/env bash
# Runs the libFuzzer harnesses built in $BUILD/fuzz (see README.md here).
#
#   run.sh available        exit 0 if $FUZZ_CC can build a libFuzzer binary
#   run.sh fuzz [name...]   each harness for $FUZZ_SECONDS s on one core,
#                           growing $BUILD/fuzz/corpus/<name> from the seeds
#   run.sh smoke            each harness for $FUZZ_SMOKE_SECONDS s (default 4)
#                           from its seeds, in a scratch corpus; one line per
#                           harness: "PASS name", "FAIL name" or "SKIP name"
#   run.sh merge name       minimises $BUILD/fuzz/corpus/<name> plus the seeds
#                           into $BUILD/fuzz/min/<name> (libFuzzer -merge=1)
#   run.sh repro name file  runs one input once (a crash file, a seed)
#   run.sh coverage [name...]  line/region coverage of each harness's target
#                           files reached by its grown corpus and seeds
#                           (harnesses built by `make fuzz-coverage`)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FUZZ_CC=${FUZZ_CC:-clang}
out=$BUILD/fuzz
seeds=tests/fuzz/corpus
# Leaks are findings; a report must stop the run so the input is kept.
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

available() {
	local tmp rc
	command -v "$FUZZ_CC" >/dev/null 2>&1 || return 1
	tmp=$(mktemp -d) || return 1
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$tmp/t.c"
	"$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1
	rc=$?
	rm -rf "$tmp"
	return $rc
}

harnesses() {
	local src
	for src in tests/fuzz/fuzz_*.c; do
		[ -e "$src" ] || continue
		src=${src##*/}
		src=${src%.c}
		echo "${src#fuzz_}"
	done
}

# Common libFuzzer flags for harness $1: its dictionary if there is one.
dict_flag() {
	[ -f "tests/fuzz/$1.dict" ] && echo "-dict=tests/fuzz/$1.dict"
}

run_fuzz() {
	local secs=${FUZZ_SECONDS:-60} names name bin corpus art rc status=0
	names=("$@")
	[ ${#names[@]} -eq 0 ] && mapfile -t names < <(harnesses)
	for name in "${names[@]}"; do
		bin=$out/fuzz_$name
		corpus=$out/corpus/$name
		art=$out/artifacts/$name
		mkdir -p "$corpus" "$art" "$out/logs"
		echo "== fuzz_$name for ${secs}s (corpus $corpus, crashes in $art/)"
		# shellcheck disable=SC2046
		"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=25 -rss_limit_mb=4096 \
			-artifact_prefix="$art/" $(dict_flag "$name") "$corpus" "$seeds/$name" \
			>"$out/logs/$name.log" 2>&1
		rc=$?
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+[[:space:]]+DONE' \
			"$out/logs/$name.log" | sed 's/^/   /'
		if [ $rc -ne 0 ]; then
			status=1
			echo "   FINDING (exit $rc): log $out/logs/$name.log"
			grep -E 'ERROR: |runtime error|fuzz: .*check failed|Test unit written' \
				"$out/logs/$name.log" | head -5 | sed 's/^/   /'
		fi
	done
	return $status
}

run_smoke() {
	local secs=${FUZZ_SMOKE_SECONDS:-4} name bin scratch log rc
	for name in $(harnesses); do
		bin=$out/fuzz_$name
		if [ ! -x "$bin" ]; then
			echo "SKIP fuzz_$name"
			echo "DETAIL fuzz_$name: not built ($FUZZ_CC with libFuzzer missing? scripts/deps.sh installs it)"
			continue
		fi
		scratch=$out/smoke/$name
		log=$out/logs/smoke-$name.log
		rm -rf "$scratch"
		mkdir -p "$scratch" "$out/logs"
		# Every seed (regression inputs included) runs first, then new
		# inputs for the rest of the time; -seed fixes the mutations.
		# shellcheck disable=SC2046
		timeout $((secs + 120)) "$bin" -max_total_time="$secs" -seed=1 -timeout=25 \
			-rss_limit_mb=4096 -artifact_prefix="$scratch/" $(dict_flag "$name") \
			"$scratch" "$seeds/$name" >"$log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			echo "PASS fuzz_$name"
			echo "DETAIL fuzz_$name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)"
		else
			echo "FAIL fuzz_$name"
			echo "DETAIL fuzz_$name: exit $rc, log $log, input in $scratch/"
			grep -E 'ERROR: |runtime error|fuzz: .*check failed' "$log" | head -3 |
				sed 's/^/DETAIL   /'
		fi
	done
}

# The source files each harness is there to exercise (its coverage report).
targets() {
	case "$1" in
	boot) echo src/vmm/boot.c src/vmm/boot_elf.c src/vmm/boot_pvh.c src/vmm/boot_multiboot.c ;;
	pci_config) echo src/pci/pci.c src/pci/pci_host.c ;;
	nvme) echo src/devices/nvme_ctrl.c src/devices/nvme_queue.c src/devices/nvme_io.c src/devices/nvme_pci.c ;;
	iopt) echo src/iommu/iopt_vtd.c ;;
	vtd_tables) echo src/iommu/vtd.c src/iommu/vtd_cache.c src/iommu/vtd_fault.c ;;
	virtio) echo src/devices/virtio_pci.c src/devices/virtqueue.c src/devices/virtio_blk.c ;;
	viommu) echo src/iommu/viommu.c src/iommu/viommu_qi.c src/iommu/viommu_ir.c src/iommu/stage2.c src/iommu/viommu_shadow.c src/iommu/dma.c ;;
	esac
}

# Replays build/fuzz/corpus/<name> plus the seeds once through the
# profile-instrumented harness in $BUILD/fuzzcov and reports, per target
# file, the lines, regions and functions reached (llvm-cov), with an HTML
# view of every line in $BUILD/fuzzcov/html/<name>/.
run_coverage() {
	local cov=$BUILD/fuzzcov names name bin prof files
	local profdata=${LLVM_PROFDATA:-llvm-profdata-14} llvmcov=${LLVM_COV:-llvm-cov-14}
	command -v "$profdata" >/dev/null && command -v "$llvmcov" >/dev/null ||
		{ echo "coverage: $profdata/$llvmcov missing (WARDEN_WITH_COVERAGE=1 scripts/deps.sh)" >&2; return 1; }
	names=("$@")
	[ ${#names[@]} -eq 0 ] && mapfile -t names < <(harnesses)
	: >"$cov/report.txt"
	for name in "${names[@]}"; do
		bin=$cov/fuzz_$name
		prof=$cov/prof/$name
		rm -rf "$prof" "$cov/html/$name"
		mkdir -p "$prof" "$out/corpus/$name"
		# -runs=0: load (and so run) every input, then stop.
		LLVM_PROFILE_FILE="$prof/%p.profraw" "$bin" -runs=0 -timeout=25 -rss_limit_mb=4096 \
			"$out/corpus/$name" "$seeds/$name" >"$prof/replay.log" 2>&1 ||
			{ echo "coverage: fuzz_$name failed replaying its corpus (log $prof/replay.log)" >&2; return 1; }
		"$profdata" merge -sparse -o "$prof/merged.profdata" "$prof"/*.profraw || return 1
		# shellcheck disable=SC2046
		files=$(targets "$name")
		{
			echo "== fuzz_$name: $(ls "$out/corpus/$name" | wc -l) corpus inputs + $(ls "$seeds/$name" | wc -l) seeds"
			# shellcheck disable=SC2086
			"$llvmcov" report "$bin" -instr-profile="$prof/merged.profdata" $files
		} | tee -a "$cov/report.txt"
		# shellcheck disable=SC2086
		"$llvmcov" show "$bin" -instr-profile="$prof/merged.profdata" -format=html \
			-output-dir="$cov/html/$name" $files >/dev/null
	done
	# A file is often reached by more than one harness (vtd.c by
	# fuzz_vtd_tables and fuzz_viommu, pci.c by fuzz_pci_config and the
	# device harnesses): the union over every harness run above.
	if [ ${#names[@]} -gt 1 ]; then
		local objs=() all=()
		for name in "${names[@]}"; do
			objs+=(-object "$cov/fuzz_$name")
			# shellcheck disable=SC2207
			all+=($(targets "$name"))
		done
		"$profdata" merge -sparse -o "$cov/all.profdata" "$cov"/prof/*/merged.profdata || return 1
		{
			echo "== all harnesses together"
			"$llvmcov" report "${objs[@]:1}" -instr-profile="$cov/all.profdata" \
				$(printf '%s\n' "${all[@]}" | sort -u)
		} | tee -a "$cov/report.txt"
	fi
	echo "report: $cov/report.txt; every line: $cov/html/<name>/index.html"
}

case "${1:-}" in
available) available ;;
coverage) shift; run_coverage "$@" ;;
fuzz) shift; run_fuzz "$@" ;;
smoke) run_smoke ;;
merge)
	[ $# -eq 2 ] || { echo "usage: $0 merge <name>" >&2; exit 2; }
	rm -rf "$out/min/$2"
	mkdir -p "$out/min/$2"
	"$out/fuzz_$2" -merge=1 "$out/min/$2" "$out/corpus/$2" "$seeds/$2" 2>&1 | tail -2
	echo "$(ls "$out/min/$2" | wc -l) files, $(du -sh "$out/min/$2" | cut -f1) in $out/min/$2"
	;;
repro)
	[ $# -eq 3 ] || { echo "usage: $0 repro <name> <file>" >&2; exit 2; }
	"$out/fuzz_$2" -runs=1 "$3"
	;;
*) echo "usage: $0 available | fuzz [name...] | smoke | coverage [name...] | merge <name> | repro <name> <file>" >&2; exit 2 ;;
esac
