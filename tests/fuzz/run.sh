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

case "${1:-}" in
available) available ;;
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
*) echo "usage: $0 available | fuzz [name...] | smoke | merge <name> | repro <name> <file>" >&2; exit 2 ;;
esac
