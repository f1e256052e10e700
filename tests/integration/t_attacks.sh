# t_attacks: the DMA attack gallery (docs/security.md). Sourced by run.sh
# (its helpers: run, expect, pass, fail, skip, needs_kvm, $QEMU, $G, $TMP,
# $WARDEN, $TIMEOUT); alone: SUITE=t_attacks tests/integration/run.sh.

attack_names="unmapped private stale identity superpage msi-spoof bme cross-vm"
attack_have_cmd=0
"$WARDEN" attack --help >/dev/null 2>&1 && attack_have_cmd=1

# --- the runner fails when it should: fake children, no KVM needed ---
# Each fake prints what a run that went wrong prints; `warden attack` must
# exit 1 and say why.
attack_fake() {         # NAME BODY: a stand-in for `warden run`
	printf '#!/bin/sh\n%s\n' "$2" >"$TMP/fake-$1"
	chmod +x "$TMP/fake-$1"
}
attack_fake breach 'echo "[vm0] victim: filled 1 MiB"
echo "[vm1] attack-result: name=bme outcome=BREACH fault=none detail=fake breach"
echo "warden: vm0 RAM changed after it stopped (hash 0x1 at stop, 0x2 now)"
exit 3'
attack_fake silent 'echo "[vm0] victim: filled 1 MiB"; exit 0'
attack_fake hang 'exec sleep 60'
if [ $attack_have_cmd = 0 ]; then
	for n in breach silent hang; do skip "attack-runner-fails-on-$n" "warden has no 'attack' command (src/main.c)"; done
elif [ ! -f "$G/victim.elf" ] || [ ! -f "$G/attack-bme.elf" ]; then
	for n in breach silent hang; do fail "attack-runner-fails-on-$n" "guest images not built (make guest)"; done
else
	run attack --warden "$TMP/fake-breach" --guest-dir "$G" --only bme --mode nested
	expect attack-runner-fails-on-breach 1 'FAIL: BREACH: fake breach' '1 run, 0 blocked, 1 failed'
	run attack --warden "$TMP/fake-silent" --guest-dir "$G" --only bme --mode shadow
	expect attack-runner-fails-on-silent 1 'FAIL: no attack-result line'
	run attack --warden "$TMP/fake-hang" --guest-dir "$G" --only bme --mode nested --timeout 2
	expect attack-runner-fails-on-hang 1 'FAIL: timed out'
fi

# --- the gallery itself: 16 runs, every row blocked ---
if [ $attack_have_cmd = 0 ]; then
	skip attack-gallery "warden has no 'attack' command (src/main.c)"
elif needs_kvm attack-gallery "$G/victim.elf"; then
	# 16 runs of a few seconds each: more than one run's TIMEOUT.
	timeout 900 "$WARDEN" attack --guest-dir "$G" >"$TMP/out" 2>"$TMP/attack-progress" </dev/null
	rc=$?
	cp "$TMP/out" "$TMP/attack-table"
	expect attack-gallery 0 '^16 runs, 16 blocked, 0 failed'
	for n in $attack_names; do
		for m in nested shadow; do
			row=$(grep -E "^$n +$m " "$TMP/attack-table")
			if printf '%s\n' "$row" | grep -Eq "^$n +$m +blocked +blocked +[^ ]+ +unchanged +intact +ok"; then
				pass "attack-$n-$m"
			else
				fail "attack-$n-$m" "row: ${row:-missing}"
			fi
		done
	done
fi

# --- each program once under QEMU's intel-iommu, the reference model ---
# Not msi-spoof (QEMU's edu cannot address 0xFEExxxxx; QEMU 7.2 would
# also pass compatibility-format messages) nor cross-vm (a second VM on
# the same host). pt=off: no pass-through, as on Warden. QEMU's
# interrupt remapping wants the split irqchip.
attack_qemu() {
	timeout "$TIMEOUT" "$QEMU" -machine q35,kernel-irqchip=split -accel kvm -nographic -no-reboot -m 256M \
		-net none -device isa-debug-exit,iobase=0xf4,iosize=4 -device intel-iommu,intremap=on,pt=off \
		-device edu "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}
# name:fault reasons QEMU must record
attack_qemu_cases="unmapped:0x05,0x06 private:0x08,0x09,0x07 stale:0x05,0x06 identity:0x03
superpage:0x05,0x06 bme:none"
for c in $attack_qemu_cases; do
	n=${c%%:*}
	faults=${c#*:}
	if [ -z "$QEMU" ]; then
		skip "qemu-attack-$n" "qemu-system-x86_64 not installed"
	elif [ $have_kvm = 0 ]; then
		skip "qemu-attack-$n" "/dev/kvm not available"
	elif [ ! -f "$G/attack-$n.elf" ]; then
		fail "qemu-attack-$n" "guest image $G/attack-$n.elf not built"
	else
		attack_qemu -kernel "$G/attack-$n.elf"
		f=$(grep -ao "attack-result: name=$n outcome=blocked fault=[^ ]*" "$TMP/out" | sed 's/.*fault=//')
		missing=""
		for r in $(printf '%s' "$faults" | tr ',' ' '); do
			case ",$f," in *",$r,"*) ;; *) missing="$missing $r" ;; esac
		done
		if [ -n "$f" ] && [ -z "$missing" ]; then
			expect "qemu-attack-$n" 0 "attack-result: name=$n outcome=blocked "
		else
			fail "qemu-attack-$n" "status $rc, faults '${f:-no blocked result line}', missing:${missing:- none}"
		fi
	fi
done
skip qemu-attack-msi-spoof "QEMU's edu cannot DMA to 0xFEExxxxx (28-bit addresses)"
skip qemu-attack-cross-vm "needs a second VM on the same host (warden attack runs it)"
