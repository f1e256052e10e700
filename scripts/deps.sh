#!/usr/bin/env bash
# Installs the Debian packages Warden needs, only those missing.
# Used by `make test`, `make demo`, `make bench` and .ci/run.
set -euo pipefail
pkgs=(gcc make binutils libc6-dev pkg-config liburing-dev libcmocka-dev)
# QEMU is the reference for the guest images and peer benchmarks; tests that
# need it are skipped without it, but CI and `make demo` install it.
if [ "${WARDEN_WITH_QEMU:-1}" = 1 ]; then pkgs+=(qemu-system-x86); fi
# clang with libFuzzer (Debian 12 ships it in libclang-rt-14-dev) builds the
# fuzz harnesses (tests/fuzz/); without it `make test` skips them.
if [ "${WARDEN_WITH_FUZZ:-1}" = 1 ]; then pkgs+=(clang libclang-rt-14-dev); fi
# llvm-cov and llvm-profdata report what the fuzz corpora cover (`make
# fuzz-coverage` asks for them; nothing else needs them).
if [ "${WARDEN_WITH_COVERAGE:-0}" = 1 ]; then pkgs+=(llvm-14); fi
# gnuplot draws the chart of `make bench` (docs/benchmarks.md); without it
# the report skips the chart and says so.
if [ "${WARDEN_WITH_GNUPLOT:-1}" = 1 ]; then pkgs+=(gnuplot-nox); fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "warden: installing missing packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null; then SUDO=sudo; else
		echo "warden: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
