# Several VMs in one process (sourced by run.sh; SUITE=t_multivm runs just
# this): consoles, --serial, --after ordering, one host IOMMU with a domain
# per VM, the exit-status rules, the RAM-unchanged check and bad --vm usage.

# mv_block VM: the --stats block of vmN (or "host") from $TMP/out.
mv_block() {
	awk -v h="warden stats: $1" '$0 == h { f = 1; next } /^warden stats:/ { f = 0 } f' "$TMP/out"
}

# mv_one_line NAME: a usage error is one line.
mv_one_line() {
	local n
	n=$(wc -l <"$TMP/out")
	if [ "$n" = 1 ]; then pass "$1"; else fail "$1" "$n lines of output"; fi
}

# --- command line (no KVM needed) ---
run run --vm "$G/hello.elf";                expect multivm-usage-empty-first 2 'vm0: empty VM group'
mv_one_line multivm-usage-empty-first-one-line
run run "$G/hello.elf" --vm --vm "$G/hello.elf"; expect multivm-usage-empty-group 2 'vm1: empty VM group'
run run "$G/hello.elf" --vm;                expect multivm-usage-trailing-vm 2 'vm1: empty VM group'
run run "$G/hello.elf" --vm --mem 64M;      expect multivm-usage-no-kernel 2 'vm1: no KERNEL given'
mv_one_line multivm-usage-no-kernel-one-line
run run "$G/hello.elf" --vm "$G/hello.elf" "$G/hello.elf"
expect multivm-usage-two-kernels 2 'vm1: more than one KERNEL given'
run run "$G/hello.elf" --vm --after 1 "$G/hello.elf"
expect multivm-usage-after-self 2 'vm1: --after 1 must name an earlier VM'
mv_one_line multivm-usage-after-self-one-line
run run "$G/hello.elf" --vm --after 2 "$G/hello.elf" --vm "$G/hello.elf"
expect multivm-usage-after-later 2 'vm1: --after 2 must name an earlier VM'
run run --after 0 "$G/hello.elf";           expect multivm-usage-after-first 2 'vm0 is the first VM'
run run "$G/hello.elf" --vm --after x "$G/hello.elf"; expect multivm-usage-after-bad 2 "invalid --after 'x'"
nine=("$G/hello.elf"); for i in 1 2 3 4 5 6 7 8; do nine+=(--vm "$G/hello.elf"); done
run run "${nine[@]}";                       expect multivm-usage-ninth-vm 2 'at most 8 VMs'
mv_one_line multivm-usage-ninth-vm-one-line
run run --viommu mode=bogus "$G/hello.elf"; expect multivm-viommu-bad-mode 2 "--viommu: unknown mode 'bogus'"
mv_one_line multivm-viommu-bad-mode-one-line
run run --viommu speed=11 "$G/hello.elf";   expect multivm-viommu-bad-setting 2 "--viommu: unknown setting 'speed=11'"
run run --serial "$TMP/same.txt" "$G/hello.elf" --vm --serial "$TMP/same.txt" "$G/hello.elf"
expect multivm-usage-same-serial 2 "vm1: --serial .*same.txt is vm0's console already"
run run --help;                             expect multivm-help 0 'warden run \[options\] KERNEL \[--vm \[options\] KERNEL\]' '--after N' '--viommu'
run run "$G/hello.elf" --vm "$TMP/nonexistent.elf"; expect multivm-load-missing 2 'nonexistent.elf: No such file'
run run --host-mem 512M "$G/hello.elf" --vm "$G/hello.elf"
expect multivm-host-mem-too-small 2 'vm1: 256 MiB of guest RAM does not fit in --host-mem 512 MiB'

# --- two VMs on stdout: every line whole and prefixed ---
if needs_kvm multivm-hello "$G/hello.elf"; then
	run run --cmdline first-vm "$G/hello.elf" --vm --cmdline second-vm --mem 128M "$G/hello.elf"
	expect multivm-hello 0 '^\[vm0\] Hello from Warden guest' '^\[vm1\] Hello from Warden guest' \
		'^\[vm0\] cmdline: "first-vm"' '^\[vm1\] cmdline: "second-vm"' \
		'^\[vm0\] fw_cfg: 256 MiB RAM' '^\[vm1\] fw_cfg: 128 MiB RAM' \
		'^warden: vm0 stopped: status 0 \(acpi-s5\)$' '^warden: vm1 stopped: status 0 \(acpi-s5\)$'
	bad=$(grep -Ev '^(\[vm[01]\] |warden: )' "$TMP/out" | head -3)
	if [ -z "$bad" ]; then pass multivm-hello-lines-whole; else fail multivm-hello-lines-whole "unprefixed: $bad"; fi
	n0=$(grep -c '^\[vm0\] ' "$TMP/out"); n1=$(grep -c '^\[vm1\] ' "$TMP/out")
	if [ "$n0" -ge 8 ] && [ "$n1" = "$n0" ]; then pass multivm-hello-all-lines
	else fail multivm-hello-all-lines "vm0 $n0 lines, vm1 $n1"; fi
	# One VM: no prefix, no per-VM status line (as before several VMs).
	run run "$G/hello.elf"
	if [ "$rc" = 0 ] && grep -q '^Hello from Warden guest' "$TMP/out" && ! grep -q 'vm0' "$TMP/out"; then
		pass multivm-one-vm-unchanged; else fail multivm-one-vm-unchanged "status $rc"; fi
fi

# --- --serial per VM; a VM alone on stdout is not prefixed ---
if needs_kvm multivm-serial "$G/hello.elf"; then
	rm -f "$TMP/c0.txt" "$TMP/c1.txt"
	run run --serial "$TMP/c0.txt" --cmdline to-file-0 "$G/hello.elf" \
		--vm --serial "$TMP/c1.txt" --cmdline to-file-1 "$G/hello.elf"
	if [ "$rc" = 0 ] && grep -q '^cmdline: "to-file-0"' "$TMP/c0.txt" &&
	   grep -q '^cmdline: "to-file-1"' "$TMP/c1.txt" && ! grep -q 'to-file-1' "$TMP/c0.txt" &&
	   ! grep -q 'Hello' "$TMP/out"; then pass multivm-serial
	else fail multivm-serial "status $rc; c0: $(head -c 100 "$TMP/c0.txt" 2>/dev/null)"; fi
	run run --serial "$TMP/c0.txt" "$G/hello.elf" --vm --cmdline on-stdout "$G/hello.elf"
	expect multivm-serial-one-on-stdout 0 '^cmdline: "on-stdout"'
	if grep -q '^\[vm' "$TMP/out"; then fail multivm-serial-one-on-stdout-no-prefix
	else pass multivm-serial-one-on-stdout-no-prefix; fi
fi

# --- --after: a VM starts only once the one it names has stopped ---
if needs_kvm multivm-after "$G/hello.elf"; then
	run run --cmdline victim "$G/hello.elf" --vm --after 0 --cmdline attacker "$G/hello.elf" \
		--vm --after 1 --cmdline third "$G/hello.elf"
	expect multivm-after 0 '^\[vm0\] cmdline: "victim"' '^\[vm1\] cmdline: "attacker"' \
		'^\[vm2\] cmdline: "third"'
	# Expected order of lines: all of vm0, its stop, all of vm1, its stop, vm2.
	order=$(awk '/^\[vm[0-9]\] / { k = "o" substr($0, 4, 1) }
		     /^warden: vm[0-9] stopped/ { k = "s" substr($0, 11, 1) }
		     k && k != last { printf "%s ", k; last = k }' "$TMP/out")
	if [ "$order" = "o0 s0 o1 s1 o2 s2 " ]; then pass multivm-after-order
	else fail multivm-after-order "order of output and stops: $order"; fi
fi

# --- exit status: the first non-zero in VM order; one line per VM ---
if needs_kvm multivm-exit-status "$G/exitcode.elf"; then
	run run --cmdline code=5 "$G/exitcode.elf" --vm "$G/hello.elf"
	expect multivm-exit-status 11 '^warden: vm0 stopped: status 11 \(debug-exit\)$' \
		'^warden: vm1 stopped: status 0 \(acpi-s5\)$'
	run run "$G/hello.elf" --vm --cmdline code=5 "$G/exitcode.elf"
	expect multivm-exit-status-second 11 '^warden: vm0 stopped: status 0 ' \
		'^warden: vm1 stopped: status 11 '
	# Both fail; whichever stops first, VM order decides.
	run run --cmdline code=100 "$G/exitcode.elf" --vm --cmdline code=5 "$G/exitcode.elf"
	expect multivm-exit-status-vm-order 201 'vm0 stopped: status 201' 'vm1 stopped: status 11'
	run run --cmdline triple "$G/exitcode.elf" --vm --after 0 --cmdline poweroff "$G/exitcode.elf"
	expect multivm-exit-status-crash-then-clean 1 'vm0 stopped: status 1 \(triple-fault\)' \
		'vm1 stopped: status 0 \(acpi-s5\)' '\[vm1\] exitcode: poweroff'
	run run --cmdline poweroff "$G/exitcode.elf" --vm --cmdline poweroff "$G/exitcode.elf"
	expect multivm-exit-status-all-clean 0 'vm0 stopped: status 0' 'vm1 stopped: status 0'
	# A signal stops them all, and a VM still waiting never starts.
	timeout --preserve-status -s TERM 2 "$WARDEN" run --cmdline hlt "$G/exitcode.elf" \
		--vm --cmdline hlt "$G/exitcode.elf" --vm --after 0 "$G/hello.elf" >"$TMP/out" 2>&1 </dev/null
	rc=$?
	expect multivm-signal-stops-all 143 'stopping on signal 15' \
		'vm0 stopped: status 143 \(host-signal\)' 'vm1 stopped: status 143 \(host-signal\)' \
		'vm2 stopped: status 143 \(host-signal; never started\)'
	if grep -q 'Hello' "$TMP/out"; then fail multivm-signal-waiting-never-ran
	else pass multivm-signal-waiting-never-ran; fi
fi

# --- stats: a block per VM, the host once, RAM unchanged after each stop ---
if needs_kvm multivm-stats "$G/hello.elf"; then
	run run --stats "$G/hello.elf" --vm --after 0 "$G/hello.elf"
	expect multivm-stats 0 '^warden stats: vm0$' '^warden stats: vm1$' '^warden stats: host$' \
		'host memory +576 MiB'
	for v in 0 1; do
		if mv_block "vm$v" | grep -Eq '^  RAM after stop +unchanged \(hash 0x[0-9a-f]{16}\)$'; then
			pass "multivm-stats-ram-unchanged-vm$v"
		else fail "multivm-stats-ram-unchanged-vm$v" "$(mv_block "vm$v" | tail -3)"; fi
	done
	n=$(grep -c 'hypervisor canaries' "$TMP/out")
	if [ "$n" = 1 ] && mv_block host | grep -q 'hypervisor canaries  intact'; then
		pass multivm-stats-canaries-once; else fail multivm-stats-canaries-once "$n canary lines"; fi
	if grep -q 'RAM changed' "$TMP/out"; then fail multivm-no-ram-changed; else pass multivm-no-ram-changed; fi
	run run --stats "$G/hello.elf"
	expect multivm-stats-one-vm 0 '^warden stats:$' 'RAM after stop +unchanged \(hash 0x' \
		'hypervisor canaries +intact'
fi

# --- --viommu is accepted per VM (a guest that does not use it still boots) ---
if needs_kvm multivm-viommu-accepted "$G/hello.elf"; then
	run run --viommu "$G/hello.elf" --vm --viommu mode=shadow "$G/hello.elf"
	expect multivm-viommu-accepted 0 '^\[vm0\] Hello' '^\[vm1\] Hello'
fi

# --- one host IOMMU, a domain per VM: two passthrough NVMe VMs at once ---
if needs_kvm multivm-nvme-passthrough "$G/nvme-selftest.elf"; then
	run run --stats --disk path=ram:8M,mode=passthrough "$G/nvme-selftest.elf" \
		--vm --disk path=ram:8M,mode=passthrough "$G/nvme-selftest.elf"
	expect multivm-nvme-passthrough 0 '^\[vm0\] nvme-selftest: PASS' '^\[vm1\] nvme-selftest: PASS' \
		'host iommu domains +2' 'hypervisor canaries +intact'
	d0=$(mv_block vm0 | sed -n 's/.*source-id \(..:..\..\), domain \([0-9]*\)/\1 \2/p')
	d1=$(mv_block vm1 | sed -n 's/.*source-id \(..:..\..\), domain \([0-9]*\)/\1 \2/p')
	if [ -n "$d0" ] && [ -n "$d1" ] && [ "${d0#* }" != "${d1#* }" ] && [ "${d0% *}" != "${d1% *}" ]; then
		pass multivm-nvme-own-domains; else fail multivm-nvme-own-domains "vm0: '$d0', vm1: '$d1'"; fi
	if [ "$(grep -c 'RAM after stop  *unchanged' "$TMP/out")" = 2 ]; then pass multivm-nvme-ram-unchanged
	else fail multivm-nvme-ram-unchanged; fi
fi
# A hostile VM beside a well-behaved one: its faults are its own.
if needs_kvm multivm-nvme-hostile-beside "$G/nvme-hostile.elf"; then
	run run --stats --disk path=ram:16M,mode=passthrough "$G/nvme-selftest.elf" \
		--vm --disk path=ram:16M,mode=passthrough "$G/nvme-hostile.elf"
	expect multivm-nvme-hostile-beside 0 '^\[vm0\] nvme-selftest: PASS' \
		'^\[vm1\] nvme-hostile: all blocked' 'hypervisor canaries +intact'
	if mv_block vm0 | grep -Eq '^  iommu faults +0 ' && mv_block vm1 | grep -Eq '^  iommu faults +[1-9]'; then
		pass multivm-nvme-faults-per-vm
	else fail multivm-nvme-faults-per-vm "$(grep 'iommu faults' "$TMP/out" | tr '\n' ';')"; fi
	if grep -q 'NOT BLOCKED\|RAM changed' "$TMP/out"; then fail multivm-nvme-hostile-none-through
	else pass multivm-nvme-hostile-none-through; fi
fi
