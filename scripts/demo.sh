#!/usr/bin/env bash
# `make demo`: boots the hello guest, then drives the same NVMe controller
# logic emulated (trapped by the VMM) and passed through (its own engine
# behind the IOMMU), and prints them side by side.
set -u -o pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
W="$BUILD/warden"
G="$BUILD/guest"
SECS=${DEMO_SECS:-1}
if [ ! -r /dev/kvm ]; then
	echo "warden demo: /dev/kvm is not available on this machine; nothing to boot."
	exit 3
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

echo "== 1. boot: warden run --cpus 2 --stats $G/hello.elf"
"$W" run --cpus 2 --stats --cmdline "demo=1" "$G/hello.elf" || status=1

truncate -s 256M "$tmp/disk.img"
for mode in emulated passthrough; do
	echo
	echo "== 2. nvme-selftest, $mode (disk: 256 MiB file through io_uring)"
	# The selftest provokes guest errors on purpose; their log lines are not shown.
	"$W" run --disk "path=$tmp/disk.img,mode=$mode" "$G/nvme-selftest.elf" 2>/dev/null | tail -n 3 || status=1
done
for mode in emulated passthrough; do
	echo
	echo "== 3. nvme-bench, $mode (RAM backend, ${SECS}s per workload)"
	"$W" run --disk "path=ram:256M,mode=$mode" --cmdline "secs=$SECS" "$G/nvme-bench.elf" \
		>"$tmp/bench-$mode.txt" 2>&1 || status=1
	grep '^nvme-bench: ' "$tmp/bench-$mode.txt"
done

echo
echo "== NVMe: emulated vs passthrough (same controller logic, same guest driver)"
awk '
function field(line, key,   i, n, a) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) if (index(a[i], key "=") == 1) return substr(a[i], length(key) + 2)
	return "-"
}
FNR == 1 { mode = (FILENAME ~ /passthrough/) ? "pt" : "em" }
/^nvme-bench: / {
	w = $2 " qd=" field($0, "qd")
	if (!(w in seen)) { seen[w] = 1; order[++n] = w }
	iops[w, mode] = field($0, "iops"); p50[w, mode] = field($0, "p50_us")
	p99[w, mode] = field($0, "p99_us"); epi[w, mode] = field($0, "exits_per_io")
}
END {
	printf "%-14s | %10s %8s %8s %9s | %10s %8s %8s %9s | %7s\n", "workload", "emul IOPS",
	       "p50 us", "p99 us", "exits/IO", "pt IOPS", "p50 us", "p99 us", "exits/IO", "pt/emul"
	for (i = 1; i <= n; i++) {
		w = order[i]
		r = (iops[w, "em"] > 0) ? sprintf("%.1fx", iops[w, "pt"] / iops[w, "em"]) : "-"
		printf "%-14s | %10s %8s %8s %9s | %10s %8s %8s %9s | %7s\n", w, iops[w, "em"],
		       p50[w, "em"], p99[w, "em"], epi[w, "em"], iops[w, "pt"], p50[w, "pt"],
		       p99[w, "pt"], epi[w, "pt"], r
	}
}' "$tmp/bench-emulated.txt" "$tmp/bench-passthrough.txt"
exit $status
