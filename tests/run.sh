#!/usr/bin/env bash
# Runs every suite (unit tests and integration tests, each plain and under
# ASan/UBSan, then a short smoke run of every fuzz harness) and ends with one
# line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
pass=0 fail=0 skip=0
failed_names=()
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# cmocka prints "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" /
# "[  SKIPPED ] N test(s)"; a binary that dies before its summary counts as
# one failure.
run_unit() {
	local bin=$1 label=$2 out rc p f s
	out="$log_dir/$label.log"
	mkdir -p "$(dirname "$out")"
	timeout 300 "$bin" >"$out" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	if [ "$f" != 0 ]; then
		failed_names+=("$label")
		echo "FAIL  $label (exit $rc; log $out)"
		grep -E '^\[  (FAILED|ERROR) \]|ERROR: AddressSanitizer|runtime error' "$out" | head -5 | sed 's/^/      /'
	else
		printf 'ok    %-34s %3d passed%s\n' "$label" "$p" "$([ "$s" != 0 ] && echo ", $s skipped")"
	fi
}

echo "== unit tests"
for bin in "$BUILD"/tests/test_*; do
	[ -x "$bin" ] && run_unit "$bin" "unit/$(basename "$bin")"
done
echo "== unit tests under ASan/UBSan"
for bin in "$BUILD"/san/tests/test_*; do
	[ -x "$bin" ] && run_unit "$bin" "unit-san/$(basename "$bin")"
done

run_integration() {
	local label=$1 warden=$2 out line
	out="$log_dir/$label.log"
	mkdir -p "$(dirname "$out")"
	echo "== integration tests ($label)"
	WARDEN=$warden BUILD=$BUILD tests/integration/run.sh >"$out" 2>&1
	while IFS= read -r line; do
		case "$line" in
		PASS\ *) pass=$((pass + 1)); echo "ok    ${line#PASS }";;
		FAIL\ *) fail=$((fail + 1)); failed_names+=("$label/${line#FAIL }"); echo "FAIL  ${line#FAIL }";;
		SKIP\ *) skip=$((skip + 1)); echo "skip  ${line#SKIP }";;
		DETAIL\ *) echo "      ${line#DETAIL }";;
		esac
	done <"$out"
}
run_integration integration "$BUILD/warden"
run_integration integration-san "$BUILD/san/warden"

# Fuzz harnesses (tests/fuzz/): each runs a few seconds from its seeds and
# regression inputs, so CI keeps them building and sane. One result per
# harness; skipped, with the reason, where clang's libFuzzer is missing.
echo "== fuzz harnesses (smoke, ${FUZZ_SMOKE_SECONDS:-4}s each)"
if tests/fuzz/run.sh available; then
	while IFS= read -r line; do
		case "$line" in
		PASS\ *) pass=$((pass + 1)); echo "ok    ${line#PASS }";;
		FAIL\ *) fail=$((fail + 1)); failed_names+=("fuzz/${line#FAIL }"); echo "FAIL  ${line#FAIL }";;
		SKIP\ *) skip=$((skip + 1)); echo "skip  ${line#SKIP }";;
		DETAIL\ *) echo "      ${line#DETAIL }";;
		esac
	done < <(BUILD=$BUILD tests/fuzz/run.sh smoke)
else
	for src in tests/fuzz/fuzz_*.c; do
		[ -e "$src" ] || continue
		skip=$((skip + 1))
		src=${src##*/}
		echo "skip  ${src%.c}"
	done
	echo "      ${FUZZ_CC:-clang} cannot build libFuzzer binaries (scripts/deps.sh installs clang and libclang-rt-14-dev)"
fi

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]} (logs in $log_dir)"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
