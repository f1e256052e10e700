# t_vtd: the guest VT-d driver (guest/rt/vtd.c) and vtd-selftest, under QEMU's
# intel-iommu (the reference model) and Warden's --viommu. Sourced by run.sh
# (its helpers: run, expect, skip, needs_kvm, $QEMU, $G, $TMP, $WARDEN).

# QEMU's interrupt remapping needs the split irqchip, which qemu_run's
# plain "-machine q35" does not give.
vtd_qemu() {
	timeout "$TIMEOUT" "$QEMU" -machine q35,kernel-irqchip=split -accel kvm -nographic -no-reboot \
		-m 256M -net none -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}

vtd_qemu_names="qemu-vtd-selftest-cm-off-aw39 qemu-vtd-selftest-cm-off-aw48 qemu-vtd-selftest-cm-on-aw39
qemu-vtd-selftest-cm-on-aw48 qemu-vtd-selftest-no-pt qemu-vtd-selftest-virtio-blk qemu-viommu-bench"
if [ -z "$QEMU" ]; then
	for n in $vtd_qemu_names; do skip "$n" "qemu-system-x86_64 not installed"; done
elif [ $have_kvm = 0 ]; then
	for n in $vtd_qemu_names; do skip "$n" "/dev/kvm not available"; done
elif [ ! -f "$G/vtd-selftest.elf" ]; then
	for n in $vtd_qemu_names; do fail "$n" "guest image $G/vtd-selftest.elf not built"; done
else
	truncate -s 16M "$TMP/vtd-nvme.img"
	for cm in off on; do
		for aw in 39 48; do
			cmv=0; [ $cm = on ] && cmv=1
			vtd_qemu -device intel-iommu,intremap=on,caching-mode=$cm,aw-bits=$aw -device edu \
				-drive "file=$TMP/vtd-nvme.img,if=none,id=d0,format=raw" -device nvme,serial=w0,drive=d0 \
				-kernel "$G/vtd-selftest.elf" -append "cm=$cmv aw=$aw"
			expect "qemu-vtd-selftest-cm-$cm-aw$aw" 0 'vtd-selftest: PASS' \
				'strict unmap, then DMA: fault 0x05' 'root entry not present: fault 0x01' \
				'context entry not present: fault 0x02' 'context AW not in SAGAW: fault 0x03' \
				'beyond the domain.s width: fault 0x04' 'read of a write-only page: fault 0x06' \
				'second-level entry: fault 0x0c' 'NVMe read into an unmapped page: fault 0x05' \
				'through remappable RTE' 'vector comes from the IRTE' 'read completed by interrupt' \
				'register-based invalidation: [1-9]' 'queued invalidation: [1-9]' \
				'fault event: one message to vector' 'invalidation completion event: IF = 1 wait'
		done
	done
	# ECAP.PT = 0: a pass-through context entry is invalid (fault 0x03).
	vtd_qemu -device intel-iommu,intremap=on,pt=off -device edu -kernel "$G/vtd-selftest.elf" -append "pt=0 ir=0"
	expect qemu-vtd-selftest-no-pt 0 'vtd-selftest: PASS' 'TT=10 without ECAP.PT: fault 0x03'
	# virtio-pci goes through the IOMMU only with iommu_platform=on (the
	# device offers ACCESS_PLATFORM); without it the guest skips the part.
	# QEMU completes requests whose data the IOMMU blocked with OK (its
	# bounce buffer): accepted as a qemu-deviation there.
	if "$QEMU" -device virtio-blk-pci,help 2>/dev/null | grep -q iommu_platform; then
		truncate -s 16M "$TMP/vtd-vblk.img"
		vtd_qemu -device intel-iommu,intremap=on -device edu \
			-drive "file=$TMP/vtd-vblk.img,if=none,id=d0,format=raw" \
			-device virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on \
			-kernel "$G/vtd-selftest.elf"
		expect qemu-vtd-selftest-virtio-blk 0 'vtd-selftest: PASS' 'virtio-blk .*ACCESS_PLATFORM negotiated' \
			'virtio-blk GET_ID .* verified' 'virtio-blk read into an unmapped page: fault 0x05' \
			'virtio-blk write from an unmapped page: fault 0x06' \
			'virtio-blk MSI-X entry .* read completed by interrupt'
	else
		skip qemu-vtd-selftest-virtio-blk "QEMU's virtio-blk-pci has no iommu_platform property"
	fi
	# viommu-bench against the reference model: it runs and prints its
	# lines (QEMU's edu needs 100 ms per DMA, hence ios=2).
	if [ -f "$G/viommu-bench.elf" ]; then
		vtd_qemu -device intel-iommu,intremap=on,caching-mode=on -device edu -kernel "$G/viommu-bench.elf" \
			-append "ios=2"
		expect qemu-viommu-bench 0 'viommu-bench: caching-mode=1' \
			'viommu-bench: mode=map-unmap ios=2 us_per_io=[0-9.]+ p50_us=[0-9.]+ p99_us=[0-9.]+ exits_per_io=n/a' \
			'viommu-bench: mode=long-lived ios=2 ' 'viommu-bench: mode=te-off ios=2 ' 'viommu-bench done: 3 rows'
	else
		fail qemu-viommu-bench "guest image $G/viommu-bench.elf not built"
	fi
fi

# Warden: these start running once `warden run` offers --viommu. No QEMU
# leniency there: the guest accepts no deviation when the stats port answers.
if "$WARDEN" run --help 2>&1 | grep -q -- --viommu; then
	# Every device kind behind the vIOMMU: edu and emulated NVMe (userspace
	# MSI deliveries), passthrough NVMe (engine thread, irqfd routes
	# derived from IRTEs), in both translation strategies.
	for mode in nested shadow; do
		for nvme in emulated passthrough; do
			name="vtd-selftest-$mode-nvme-$nvme"
			if needs_kvm "$name" "$G/vtd-selftest.elf"; then
				run run --stats --viommu "mode=$mode" --device edu \
					--disk "path=ram:16M,mode=$nvme" "$G/vtd-selftest.elf"
				expect "$name" 0 'vtd-selftest: PASS' 'running on Warden' \
					'checks, 0 failed, 0 qemu deviations' 'compatibility-format MSI: fault 0x25' \
					'IRTE not present: fault 0x22' 'source-id mismatch: fault 0x26' \
					'NVMe read into an unmapped page: fault 0x05' 'read completed by interrupt' \
					'fault event: one message to vector .*second fault while PPF is set: no event' \
					'masked fault event: held .IP., delivered once on unmask; record cleared first' \
					'invalidation completion event: IF = 1 wait' ', [1-9][0-9]* fault events' \
					"viommu +$mode" 'hypervisor canaries +intact'
			fi
		done
	done
	# virtio-blk (ioeventfd, I/O thread, irqfd) behind the vIOMMU: rings and
	# request headers at IOVA = GPA + 4 GiB, data through separate IOVAs;
	# data the IOMMU blocks is answered IOERR with the guest's fault.
	for mode in nested shadow; do
		name="vtd-selftest-$mode-virtio-blk"
		if needs_kvm "$name" "$G/vtd-selftest.elf"; then
			run run --stats --viommu "mode=$mode" --device edu \
				--disk "path=ram:16M,type=virtio-blk" "$G/vtd-selftest.elf"
			expect "$name" 0 'vtd-selftest: PASS' 'running on Warden' \
				'checks, 0 failed, 0 qemu deviations' 'virtio-blk .*ACCESS_PLATFORM negotiated' \
				'virtio-blk GET_ID .* verified' \
				'virtio-blk read into an unmapped page: IOERR, device still usable' \
				'virtio-blk read into an unmapped page: fault 0x05' \
				'virtio-blk write from an unmapped page: IOERR, device still usable' \
				'virtio-blk write from an unmapped page: fault 0x06' \
				'virtio-blk MSI-X entry .* read completed by interrupt' \
				"viommu +$mode" 'hypervisor canaries +intact'
		fi
	done
	# viommu-bench: map / DMA / strict unmap per I/O, long-lived mapping,
	# translation off; just that it runs and prints its lines (numbers are
	# for docs, never for tests). Caching Mode is the shadow strategy's.
	for spec in nested:queued:0 shadow:queued:1 shadow:register:1; do
		mode=${spec%%:*}; inv=${spec#*:}; cm=${inv#*:}; inv=${inv%:*}
		name="viommu-bench-$mode-$inv"
		if needs_kvm "$name" "$G/viommu-bench.elf"; then
			run run --viommu "mode=$mode" --device edu --cmdline "ios=20 inv=$inv" "$G/viommu-bench.elf"
			expect "$name" 0 "viommu-bench: caching-mode=$cm" \
				'viommu-bench: mode=map-unmap ios=20 us_per_io=[0-9.]+ p50_us=[0-9.]+ p99_us=[0-9.]+ exits_per_io=[0-9.]+$' \
				'viommu-bench: mode=long-lived ios=20 us_per_io=[0-9.]+ .* exits_per_io=[0-9.]+$' \
				'viommu-bench: mode=te-off ios=20 us_per_io=[0-9.]+ .* exits_per_io=[0-9.]+$' \
				"$([ "$inv" = queued ] && echo 'queued invalidation' || echo 'register-based invalidation')" \
				'viommu-bench done: 3 rows'
		fi
	done
	# Guests that never program the vIOMMU keep working through it
	# (translation off: IOVA = GPA, still through the VM's host domain).
	for mode in nested shadow; do
		if needs_kvm "viommu-off-guests-$mode" "$G/virtio-selftest.elf"; then
			run run --viommu "mode=$mode" --disk "path=ram:16M,type=virtio-blk" \
				"$G/virtio-selftest.elf"
			expect "viommu-untouched-virtio-$mode" 0 'virtio-selftest: PASS'
			run run --viommu "mode=$mode" --disk "path=ram:16M,mode=passthrough" \
				"$G/nvme-selftest.elf"
			expect "viommu-untouched-nvme-passthrough-$mode" 0 'nvme-selftest: PASS'
			run run --viommu "mode=$mode" --device edu --cmdline msi-dma "$G/edu-selftest.elf"
			expect "viommu-untouched-edu-$mode" 0 'edu-selftest: PASS'
		fi
	done
else
	skip vtd-selftest "warden has no --viommu yet"
fi
