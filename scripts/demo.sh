#!/usr/bin/env bash
# `make demo`: boots the hello guest, then drives the same NVMe controller
# logic emulated (trapped by the VMM) and passed through (its own engine
# behind the IOMMU), and prints them side by side; ends with the DMA attack
# gallery (`warden attack`).
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
# label : --disk options : guest program prefix. Warden reads its console
# input from stdin, so every run below gets /dev/null there, not this list.
attachments="nvme-emulated:type=nvme,mode=emulated:nvme
virtio-blk:type=virtio-blk:virtio
nvme-passthrough:type=nvme,mode=passthrough:nvme"
echo
echo "== 2. selftests (disk: 256 MiB file through io_uring)"
while IFS=: read -r label opts prog; do
	# The selftests provoke guest errors on purpose; their log lines are not shown.
	printf '%-18s ' "$label"
	"$W" run --disk "path=$tmp/disk.img,$opts" "$G/$prog-selftest.elf" </dev/null 2>/dev/null |
		tail -n 1 || status=1
done <<<"$attachments"
echo
echo "== 3. benchmarks (RAM backend, ${SECS}s per workload)"
while IFS=: read -r label opts prog; do
	echo "-- $label"
	"$W" run --disk "path=ram:256M,$opts" --cmdline "secs=$SECS" "$G/$prog-bench.elf" \
		</dev/null >"$tmp/bench-$label.txt" 2>&1 || status=1
	grep -E '^(nvme|virtio)-bench: ' "$tmp/bench-$label.txt"
done <<<"$attachments"

echo
echo "== The three ways to a disk, same workloads (ratio: IOPS against nvme-emulated)"
awk '
function field(line, key,   i, n, a) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) if (index(a[i], key "=") == 1) return substr(a[i], length(key) + 2)
	return "-"
}
FNR == 1 { mode = FILENAME; sub(/.*bench-/, "", mode); sub(/\.txt$/, "", mode); modes[++nm] = mode }
/^(nvme|virtio)-bench: / {
	w = $2 " qd=" field($0, "qd")
	if (!(w in seen)) { seen[w] = 1; order[++n] = w }
	iops[w, mode] = field($0, "iops"); p50[w, mode] = field($0, "p50_us")
	p99[w, mode] = field($0, "p99_us"); epi[w, mode] = field($0, "exits_per_io")
}
END {
	printf "%-12s %-18s %10s %9s %9s %9s %8s\n", "workload", "attachment", "IOPS", "p50 us",
	       "p99 us", "exits/IO", "ratio"
	for (i = 1; i <= n; i++) {
		w = order[i]
		for (k = 1; k <= nm; k++) {
			md = modes[k]
			base = iops[w, "nvme-emulated"]
			r = (base > 0) ? sprintf("%.1fx", iops[w, md] / base) : "-"
			printf "%-12s %-18s %10s %9s %9s %9s %8s\n", (k == 1 ? w : ""), md, iops[w, md],
			       p50[w, md], p99[w, md], epi[w, md], r
		}
	}
}' "$tmp/bench-nvme-emulated.txt" "$tmp/bench-virtio-blk.txt" "$tmp/bench-nvme-passthrough.txt"

echo
echo "== 4. the DMA attack gallery (docs/security.md): a malicious guest drives edu behind"
echo "      its vIOMMU at memory it was not granted, in both vIOMMU modes; a victim VM ran first"
# Per-run progress goes to a file; it is shown only if something got through.
if ! "$W" attack --guest-dir "$G" </dev/null 2>"$tmp/attack.err"; then
	status=1
	cat "$tmp/attack.err"
fi
exit $status
