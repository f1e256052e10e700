#!/usr/bin/env python3
"""Writes the hand-built seed inputs in tests/fuzz/corpus/<name>/seed-*.

Each seed follows its harness's input encoding (see the comments in
fuzz_<name>.c) and reaches deep states at once: tables that translate,
controllers that are enabled and have I/O queues, images that load. The
fuzzer's own findings worth keeping (minimised) sit beside them as
min-* files and regression inputs as crash-*/regress-* files.

Usage: tests/fuzz/make_seeds.py [name ...]   (default: all)
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def value64(v):
    """fz_value64(): mode 3 is a raw 64-bit value."""
    return u8(3) + u64(v)


def write(name, seeds):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for fname, data in seeds.items():
        with open(os.path.join(d, "seed-" + fname), "wb") as f:
            f.write(data)


# ---------------------------------------------------------------- iopt
def iopt_seeds():
    def iova_raw(v):        # pick_iova case 5: aligned raw value
        return u8(5) + u16(0) + value64(v)

    def size_pages(n):      # pick_size case 7: (u16 + 1) pages
        return u8(7) + u16(n - 1)

    def size_2m(n):         # pick_size case 3: n * 2M, n = 1 + cls >> 3
        return u8(3 | ((n - 1) << 3))

    def size_1g():
        return u8(5)

    def pa_ident():
        return u8(0)

    def pa_raw(v):
        return u8(3) + value64(v)

    def map_(iova, size, pa, prot=3):
        return u8(0) + iova + size + pa + u8(prot)

    def unmap(iova, size, lazy=False):
        return u8(2) + iova + size + u8(1 if lazy else 0)

    def lookup(iova, off=0):
        return u8(4) + iova + u16(off)

    def walk(iova, size, stop=0):
        return u8(5) + iova + size + u8(stop)

    sync = u8(3)
    s = {}
    for cfg, tag in ((0x01, "48"), (0x00, "39")):
        s["superpages-" + tag] = (
            u8(cfg)
            + map_(iova_raw(0x40000000), size_1g(), pa_ident())
            + map_(iova_raw(0x200000), size_2m(3), pa_ident(), 1)
            + map_(iova_raw(0x1000), size_pages(17), pa_raw(0x7000), 2)
            + lookup(iova_raw(0x40123000), 0x123)
            + walk(iova_raw(0), size_1g())
            + unmap(iova_raw(0x40201000), size_pages(3))           # splits 1G then 2M
            + unmap(iova_raw(0x400000), size_2m(1), lazy=True)
            + lookup(iova_raw(0x40202000))
            + sync
            + walk(iova_raw(0x40000000), size_1g()))
    s["top-of-space"] = (
        u8(0x01)
        + map_(iova_raw((1 << 48) - 0x200000), size_2m(1), pa_raw(0x200000))
        + map_(iova_raw((1 << 39) - 0x1000), size_pages(2), pa_raw(0x1000))
        + walk(iova_raw((1 << 48) - 0x400000), size_2m(2))
        + unmap(iova_raw((1 << 48) - 0x1000), size_pages(1)))
    s["nomem"] = (
        u8(0xc1)                                          # 4K pages only
        + u8(6) + u8(2)                                   # leave 2 free pages
        + map_(iova_raw(0x10000000), size_pages(1024), pa_ident())
        + u8(7)
        + map_(iova_raw(0x10000000), size_pages(1024), pa_ident())
        + u8(6) + u8(0)
        + unmap(iova_raw(0x10001000), size_pages(1)))
    write("iopt", s)


# ---------------------------------------------------------------- vtd_tables
def vtd_seeds():
    R, W, PS = 1, 2, 0x80

    def slot(page, index, entry):
        # op 0: page, slot (< 0x80 direct, else u16), then pick_entry
        if index < 0x80:
            return u8(0) + u8(page) + u8(index) + entry
        return u8(0) + u8(page) + u8(0x80) + u16(index) + entry

    def to_table(k, flags):
        return u8(0) + u16(flags) + u8(k)

    def to_data(page, flags):
        return u8(1) + u16(flags) + u16(page)

    def to_data_2m(flags):
        return u8(1 | 4) + u16(flags)

    def raw(v):
        return u8(2) + u16(0) + value64(v)

    def ctx_hi(did, aw):
        return u8(3 | (aw << 2)) + u16(0) + u16(did)

    def sid(bus, dev, fn):
        return u8((bus & 3) << 1 | (dev & 3) << 3 | (fn & 7) << 5)

    def iova(i4, i3, i2, i1, off=None):
        m = 4 if off is not None else 0
        b = u8(m) + u8(i4) + u8(i3) + u8(i2) + u8(i1)
        return b + (u16(off) if off is not None else b"")

    def xlate(s, i, req):
        return u8(6) + s + i + u8(req)

    def dma(s, i, length, wr):
        return u8(11) + s + i + u16(length) + u8(1 if wr else 0)

    log = u8(14) + u8(15)
    seeds = {}
    # 4-level: root (pool 0) -> context table (1) -> PML4 (2) -> PDPT (3)
    # -> PD (4) -> PT (5) -> data pages; plus a 2M leaf and a 1G leaf.
    build4 = (
        slot(0, 0, to_table(1, R))                        # root entry bus 0
        + slot(1, 0, to_table(2, R))                      # context devfn 0.0: TT 0
        + slot(1, 1, ctx_hi(1, 2))                        # DID 1, AW 48-bit
        + slot(1, 2 * 8, to_table(6, R | 2))              # devfn 1.0: FPD
        + slot(1, 2 * 8 + 1, ctx_hi(2, 1))                # DID 2, AW 39-bit
        + slot(2, 0, to_table(3, R | W))
        + slot(3, 0, to_table(4, R | W))
        + slot(4, 0, to_table(5, R | W))
        + slot(5, 0, to_data(0, R | W))
        + slot(5, 1, to_data(1, R))
        + slot(5, 2, to_data(2, W))
        + slot(4, 1, to_data_2m(R | W | PS))              # 2M leaf
        + slot(3, 1, raw(0 | R | W | PS))                 # 1G leaf at HPA 0
        + slot(6, 0, to_table(4, R | W)))                 # 3-level shares the PD
    seeds["4level"] = (
        u8(0x8e) + u8(0xa3) + build4
        + xlate(sid(0, 0, 0), iova(0, 0, 0, 0, 0x10), 1)
        + xlate(sid(0, 0, 0), iova(0, 0, 0, 1), 2)          # write to R-only page
        + xlate(sid(0, 0, 0), iova(0, 0, 1, 3, 0x123), 3)   # 2M leaf
        + xlate(sid(0, 0, 0), iova(0, 1, 2, 0), 1)          # 1G leaf
        + xlate(sid(0, 1, 0), iova(0, 0, 0, 0), 2)          # 3-level, FPD
        + xlate(sid(1, 0, 0), iova(0, 0, 0, 0), 1)          # root entry not present
        + u8(10) + sid(0, 0, 0) + iova(0, 0, 0, 0) + u8(3)  # IOTLB hits
        + dma(sid(0, 0, 0), iova(0, 0, 0, 0, 0xf00), 0x1400, True)
        + dma(sid(0, 0, 0), iova(0, 0, 1, 0), 0x2000, True)
        + dma(sid(0, 0, 0), iova(0, 0, 0, 1), 0x800, False)
        + log)
    def raw_iova(v):
        return u8(3) + value64(v)

    seeds["irq-window"] = (
        u8(0x8e) + u8(0xa3) + build4
        + slot(4, 3, raw(0xfee00000 | R | W | PS))        # 2M leaf over the window
        + xlate(sid(0, 0, 0), iova(0, 0, 3, 1, 0x40), 1)   # in the window: fault 0xE
        + u8(6) + sid(0, 0, 0) + raw_iova(0x700000 | 0x123) + u8(3)   # 4K beside it
        + dma(sid(0, 0, 0), iova(0, 0, 3, 0), 0x1000, False)
        + log)
    def change_leaf(s, i, m, entry):            # op 16: cache, change, invalidate, check
        return u8(16) + s + i + u8(m) + entry

    seeds["leaf-change"] = (
        u8(0x8e) + u8(0xa3) + build4
        + change_leaf(sid(0, 0, 0), iova(0, 0, 0, 0), 0 | 1 << 3, to_data(7, R | W))
        + change_leaf(sid(0, 0, 0), iova(0, 0, 1, 2), 1 | 3 << 3, to_data(9, R))   # 2M leaf
        + change_leaf(sid(0, 0, 0), iova(0, 1, 0, 0), 2 | 2 << 3, raw(0))           # 1G leaf gone
        + log)
    seeds["passthrough-te"] = (
        u8(0x8e) + u8(0xa3)
        + slot(0, 0, to_table(1, R))
        + slot(1, 0, u8(0) + u16(R | 8) + u8(0))        # TT 2 (pass-through)
        + slot(1, 1, ctx_hi(3, 2))
        + xlate(sid(0, 0, 0), iova(0, 0, 0, 5, 0x42), 3)
        + xlate(sid(0, 0, 0), iova(0, 0, 0, 5), 1 | 4)      # AT = translated
        + u8(5) + u8(0)                                      # TE off
        + xlate(sid(2, 0, 0), iova(0, 0, 0, 5), 3)
        + u8(5) + u8(1)
        + u8(13) + u8(3) + u16(1) + sid(0, 0, 0) + iova(0, 0, 0, 0) + u8(2)
        + log + u8(15))
    write("vtd_tables", seeds)


# ---------------------------------------------------------------- nvme
def nvme_seeds():
    G_ASQ, G_ACQ, G_PRPL, G_DATA = 0x10000, 0x20000, 0x100000, 0x110000

    def G_SQ(q):
        return 0x40000 + q * 0x10000

    def G_CQ(q):
        return 0xC0000 + q * 0x4000

    def sqe(opc, cid, nsid=0, prp1=0, prp2=0, cdw=(0, 0, 0, 0, 0, 0), flags=0):
        return struct.pack("<BBHIIIQQQ6I", opc, flags, cid, nsid, 0, 0, 0, prp1, prp2, *cdw)

    def put(q, slot, entry):                 # op 3: raw SQE into SQ q, slot
        return u8(3) + u8(q) + u8(slot) + u8(7) + entry

    def sq_db(q, v):
        return u8(5) + u8(q) + u8(v)

    def cq_db(q, v):
        return u8(6) + u8(q) + u8(v)

    def prp_list(page, first_data_page, n):
        return u8(7) + u8(page) + u8(0) + u8(n - 1) + u8(first_data_page << 1)

    enable = u8(2) + u8(14)                   # 16-entry admin queues at ASQ/ACQ
    admin = (
        put(0, 0, sqe(0x05, 1, prp1=G_CQ(1), cdw=(1 | 15 << 16, 1 | 2 | 1 << 16, 0, 0, 0, 0)))
        + put(0, 1, sqe(0x01, 2, prp1=G_SQ(1), cdw=(1 | 15 << 16, 1 | 1 << 16, 0, 0, 0, 0)))
        + put(0, 2, sqe(0x06, 3, prp1=G_DATA, cdw=(1, 0, 0, 0, 0, 0)))          # identify ctrl
        + put(0, 3, sqe(0x06, 4, nsid=1, prp1=G_DATA + 0x1000))                # identify ns
        + put(0, 4, sqe(0x02, 5, nsid=0xFFFFFFFF, prp1=G_DATA + 0x2000,
                        cdw=(2 | 127 << 16, 0, 0, 0, 0, 0)))                   # SMART log
        + put(0, 5, sqe(0x09, 6, cdw=(7, 3 | 3 << 16, 0, 0, 0, 0)))           # number of queues
        + put(0, 6, sqe(0x0C, 7))                                              # AER
        + sq_db(0, 7) + cq_db(0, 6))
    io = (
        put(1, 0, sqe(0x01, 0x10, 1, G_DATA, 0, (0, 0, 7, 0, 0, 0)))            # write 4K
        + put(1, 1, sqe(0x02, 0x11, 1, G_DATA + 0x10000, G_DATA + 0x11000,
                        (0, 0, 15, 0, 0, 0)))                                  # read 8K
        + prp_list(0, 2, 8)
        + put(1, 2, sqe(0x01, 0x12, 1, G_DATA + 0x800, G_PRPL,
                        (8, 0, 63 | 1 << 30, 0, 0, 0)))                        # 32K FUA via list
        + put(1, 3, sqe(0x09, 0x13, 1, G_DATA, 0, (0, 4, 0, 0, 0, 0)))          # DSM deallocate
        + put(1, 4, sqe(0x08, 0x14, 1, 0, 0, (100, 0, 3, 0, 0, 0)))             # write zeroes
        + put(1, 5, sqe(0x00, 0x15, 0xFFFFFFFF))                               # flush all
        + sq_db(1, 6) + cq_db(1, 6))
    teardown = (
        put(0, 7, sqe(0x00, 8, cdw=(1, 0, 0, 0, 0, 0)))                        # delete SQ 1
        + put(0, 8, sqe(0x04, 9, cdw=(1, 0, 0, 0, 0, 0)))                      # delete CQ 1
        + sq_db(0, 9) + cq_db(0, 8))
    seeds = {}
    for cfg, tag in ((0x14, "trapped"), (0x15, "polled"), (0x94, "pci-trapped"),
                     (0x95, "pci-polled")):
        seeds["io-" + tag] = u8(cfg) + enable + admin + io + teardown
    # Over PCI: BME off and on again, MSI-X function mask, a function reset
    # and the setup again.
    seeds["pci-gate-reset"] = (u8(0x94) + enable + admin + u8(12) + u8(0) + io + u8(12) + u8(1)
                               + u8(13) + u8(0x7c) + u32(0xC0000000) + u8(1) + io
                               + u8(10) + u8(13) + u8(3) + enable + admin)
    seeds["migrate-reset"] = (u8(0x14) + enable + admin + io + u8(11) + u8(0)
                              + sq_db(1, 7) + u8(10) + enable)
    seeds["bad-doorbells"] = (u8(0x15) + enable + put(0, 0, sqe(0x0C, 1)) + sq_db(0, 1)
                              + sq_db(0, 200) + cq_db(3, 1) + u8(9)
                              + u8(0) + u8(0) + u8(3) + u64(0))       # CC = 0
    # The deferred backend (configuration bit 5, then its own byte): I/O
    # left in flight across completions in either order, failures, queue
    # deletion, a reset whose drain fails, BME off, save, and a backend that
    # takes two submissions at a time.
    def backend(m, fail=None, err=None, limit=None):      # op 14
        out = u8(14) + u8(m | (0x10 if fail is not None else 0) | (0x40 if err is not None else 0)
                         | (0x80 if limit is not None else 0))
        out += u32(fail) if fail is not None else b""
        out += u8(err) if err is not None else b""
        return out + (u8(limit) if limit is not None else b"")

    poll = u8(9)
    seeds["deferred-polled"] = (u8(0x35) + u8(0x00) + enable + admin + io + backend(2) + poll
                                + backend(8, fail=0x5) + poll + cq_db(1, 0) + teardown)
    seeds["deferred-delete-inflight"] = (u8(0x35) + u8(0x01) + enable + admin + io + teardown
                                         + backend(8) + poll + cq_db(0, 9))
    seeds["deferred-reset-poll-fails"] = (u8(0x35) + u8(0x00) + enable + admin + io + backend(0x20)
                                          + u8(10) + enable + admin + backend(8) + poll + io
                                          + backend(8) + poll)
    seeds["deferred-trapped-limit"] = (u8(0x34) + u8(2 << 2 | 2) + enable + admin + io
                                       + backend(0, err=1) + io + backend(0x20) + io
                                       + backend(0, limit=1) + io + teardown)
    seeds["deferred-pci-gate-save"] = (u8(0xB5) + u8(0x05) + enable + admin + io + u8(12) + u8(0)
                                       + backend(3) + poll + u8(12) + u8(1) + u8(11) + u8(0)
                                       + backend(8) + poll + io + u8(10) + backend(8) + poll)
    write("nvme", seeds)


# ---------------------------------------------------------------- pci_config
def pci_seeds():
    DEV_A, DEV_B, DEV_C = 3 << 3, 4 << 3, 3 << 3 | 1
    ECAM = 0xB0000000
    MSIX_CAP = 0x7C                           # after the PCIe capability at 0x40

    def devfn_sel(devfn):
        return {DEV_A: 0, DEV_B: 2, DEV_C: 3, 0: 4}[devfn]

    def reg(r):                               # pick_reg: small registers directly
        if r < 0x80:
            return u8(r << 1)
        return u8(1) + u16(r)

    def ecam_w(devfn, r, v, length=4):
        lens = {1: 0, 2: 1, 4: 2, 8: 3}
        return u8(4) + u8(0) + u8(lens[length]) + u8(devfn_sel(devfn)) + reg(r) + value64(v)

    def ecam_r(devfn, r, length=4):
        lens = {1: 0, 2: 1, 4: 2, 8: 3}
        return u8(3) + u8(0) + u8(lens[length]) + u8(devfn_sel(devfn)) + reg(r)

    def cf8(devfn, r):
        return u8(0) + u8(0) + u8(devfn_sel(devfn)) + reg(r & 0xFC)

    def cfc_r(off, length=4):
        return u8(1) + u8(off) + u8({1: 0, 2: 1, 4: 2}[length])

    def cfc_w(off, v, length=4):
        return u8(2) + u8(off) + u8({1: 0, 2: 1, 4: 2}[length]) + u32(v)

    def bar_rw(dev, bar, off, write, length=4, v=0):
        op = 6 if write else 5                 # even: write, odd: read
        b = u8(op) + u8(dev) + u8(bar) + u8({1: 0, 2: 1, 4: 2, 8: 3}[length]) + u16(off)
        return b + (value64(v) if write else b"")

    def msix_entry(vec, dw, v):
        return u8(8) + u8(vec) + u8(dw) + u32(v)

    seeds = {}
    seeds["assigned"] = (
        u8(0x80 | 8 << 1)                                     # assign resources, 9 vectors
        + ecam_r(DEV_A, 0) + ecam_r(DEV_A, 0x10) + ecam_r(DEV_C, 0x0C, 4)
        + ecam_w(DEV_A, 4, 0x0006, 2)                         # memory + bus master
        + ecam_w(DEV_A, MSIX_CAP + 2, 0x8000, 2)              # MSI-X enable
        + msix_entry(0, 0, 0xFEE00000) + msix_entry(0, 2, 0x41) + msix_entry(0, 3 | 0x40, 0)
        + u8(9) + u8(0) + u8(0)                               # notify vector 0
        + u8(9) + u8(0) + u8(2)                               # notify vector 1 (masked)
        + bar_rw(0, 0, 0x3000, False)                         # PBA
        + msix_entry(1, 3 | 0x40, 0)                          # unmask vector 1
        + bar_rw(0, 0, 0x100, True, 4, 0x1234) + bar_rw(0, 2, 0x8, False, 8)
        + bar_rw(0, 4, 0x4, True, 2, 0xBEEF)
        + cf8(DEV_B, 0x10) + cfc_r(0) + cfc_w(0, 0xFFFFFFFF) + cfc_r(0) + cfc_r(2, 2)
        + u8(11) + u8(0) + u8(2)                              # size BAR2 of device A
        + ecam_w(DEV_B, 0x14, 0xC0000000)                     # move B's BAR1 onto A's BAR0
        + ecam_w(DEV_B, 4, 3, 2)
        + ecam_w(DEV_A, 0x10, 0xFEC00000)                     # A's BAR0 onto the IOAPIC
        + ecam_w(DEV_A, 0x18, 0x80000000, 8)                  # 64-bit BAR in one go
        + u8(9) + u8(1) + u8(3)                               # INTx of B
        + ecam_w(DEV_B, 4, 0x400, 2)                          # INTX_DISABLE
        + u8(13) + u8(1)                                      # host reset
        + ecam_r(DEV_A, 0x100) + ecam_r(0x20, 0) + ecam_r(DEV_C, 0x40, 8))
    seeds["unassigned"] = (
        u8(0x01 | 63 << 1)                                    # windows refused, 64 vectors
        + ecam_w(DEV_A, 0x10, 0xD0000000) + ecam_w(DEV_A, 0x18, 0xE0000000)
        + ecam_w(DEV_A, 0x1C, 0x1, 4) + ecam_w(DEV_A, 0x20, 0xC001)
        + ecam_w(DEV_A, 4, 0x3, 2) + u8(15) + u8(0)           # host accepts windows now
        + ecam_w(DEV_A, 4, 0x0, 2) + ecam_w(DEV_A, 4, 0x3, 2)
        + ecam_w(DEV_A, MSIX_CAP + 2, 0xC000, 2)              # enable + function mask
        + u8(9) + u8(0) + u8(5 << 1)
        + ecam_w(DEV_A, MSIX_CAP + 2, 0x8000, 2)
        + u8(14) + u8(3) + u8(12) + u8(0) + u8(7))

    # The later operations: op 13 with bit 1 of its selector, bits 2-3 the
    # operation, bits 4-7 its flags.
    def later(op, flags):
        return u8(13) + u8(2 | op << 2 | flags << 4)

    def cf8_read(off, length):
        return later(0, off) + u8({1: 0, 2: 1, 4: 2, 8: 3, 3: 7}[length])

    def window(dev, bar, off, length=4, misalign=False, bad_fd=False):
        lens = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 3: 6, 16: 7}
        return (later(1, lens[length] | (8 if misalign else 0)) + u8(dev)
                + u8(bar | (0x80 if bad_fd else 0)) + u16(off))

    def dma(dev, what, gpa=0):                # 0 attach, 1 detach, 2 read
        return later(2, what) + u8(dev) + u16(gpa >> 5)

    def replug(dev, flags):                   # 1 INTx, 2 config again, 4 DMA
        return later(3, flags) + u8(dev)

    def cf8_w(v, port=0, length=4):           # op 0, raw value, any port/width
        return u8(0) + u8(1 | 4 | 8) + u32(v) + u8(port) + u8({1: 0, 2: 1, 4: 2, 8: 3, 3: 7}[length])

    def cmd(dev, m):                          # op 12: IO, MEM, BME, bit 3 INTX_DISABLE
        return u8(12) + u8(dev) + u8(m)

    seeds["ioeventfd-windows"] = (
        u8(0x80 | 8 << 1)
        + window(1, 1, 0x40) + window(0, 2, 0x208, 8) + window(2, 1, 0x20, 0)
        + window(0, 0, 0x2000) + window(0, 0, 0x1800) + window(0, 0, 0x0)   # MSI-X, direct, taken
        + window(0, 4, 0x4) + window(0, 0, 0x102, 4, misalign=True) + window(0, 0, 0x100, 3)
        + window(1, 1, 0x80, bad_fd=True) + window(1, 6, 0x0) + window(1, 1, 0x1000)
        + b"".join(window(1, 1, 0x100 + 8 * n) for n in range(16))           # the 17th refused
        + cmd(0, 1) + cmd(0, 3)                                              # decode off, on
        + ecam_w(DEV_A, 0x10, 0xC8000000) + ecam_w(DEV_A, 0x10, 0xD0000000)  # moved, refused
        + ecam_w(DEV_A, 0x10, 0xC8000000) + ecam_w(DEV_A, 0x18, 0x900000000, 8)
        + ecam_w(DEV_B, 0x14, 0xC8000000)                                    # onto A: unmapped
        + u8(11) + u8(0) + u8(0)                                             # sizing BAR0
        + u8(13) + u8(0) + u8(0) + u8(14) + u8(1)                            # reset, assign
        + u8(13) + u8(1) + u8(14) + u8(3) + replug(0, 0))
    seeds["dma-gate"] = (
        u8(0x80 | 1 << 1)
        + dma(1, 0) + dma(2, 0) + dma(0, 2, 0x1000)
        + cmd(0, 7) + cmd(1, 4) + dma(0, 2, 0x1000) + dma(1, 2, 0x1FFFE0)
        + ecam_w(DEV_C, 4, 0x0006, 2) + cf8(DEV_C, 4) + cfc_w(0, 0x0002, 2)  # BME off by CFC
        + dma(2, 1) + cmd(2, 4) + dma(2, 2) + dma(2, 0)                     # detached, back
        + u8(13) + u8(0) + u8(0) + dma(0, 2)                                 # reset gates it
        + cmd(1, 4) + u8(13) + u8(1) + dma(1, 2)
        + cmd(0, 6) + dma(0, 1) + cmd(0, 2) + dma(0, 0))
    seeds["cf8-reads"] = (
        u8(0)
        + b"".join(cf8_read(off, n) for off in range(4) for n in (1, 2, 3, 4, 8))
        + cf8_w(0x01, 3, 1) + cf8_read(0, 4)                                 # Linux's type-1 probe
        + cf8_w(0x80000000) + cf8_read(0, 4) + cf8_read(3, 1)
        + cf8_w(0x12345678, 0, 2) + cf8_w(0xFFFFFFFF, 0, 8) + cf8_w(0x8000180C, 1, 4)
        + cf8(DEV_B, 0x3C) + cfc_w(0, 0x0B, 1) + cf8_read(0, 4)
        + u8(13) + u8(1) + cf8_read(0, 4))                                   # reset clears it
    seeds["replug"] = (
        u8(0x80 | 0x40 | 3 << 1)
        + cmd(0, 7) + ecam_w(DEV_A, MSIX_CAP + 2, 0x8000, 2)
        + u8(9) + u8(2) + u8(3) + u8(9) + u8(0) + u8(3)                     # INTx of C and A
        + replug(0, 7) + replug(2, 3) + replug(1, 1) + replug(1, 6)
        + cmd(2, 0xB) + replug(2, 3) + window(2, 1, 0x30, 1) + replug(2, 2)
        + ecam_w(DEV_C, 0x14, 0xD0001000) + replug(2, 2)                     # windows refused
        + u8(13) + u8(1) + replug(0, 1) + dma(0, 2))
    seeds["config-hooks"] = (
        u8(0x80 | 4 << 1)
        + cf8(DEV_A, 0x04) + cfc_w(0, 0xFFFF0007) + cfc_w(2, 0xF9, 1) + cfc_w(1, 0x04, 1)
        + u8(2) + u8(1) + u8(7) + u32(0xAABBCC)                              # 3 bytes: dropped
        + cfc_w(3, 0x1234, 2)                                                # crosses: dropped
        + ecam_w(DEV_B, 0x10, 0xC0FFEE00C0020000, 8) + ecam_w(DEV_B, 0xFFC, 0x1, 8)
        + u8(4) + u8(0) + u8(3) + u8(devfn_sel(DEV_C)) + u8(0x12 << 1) + value64(1)  # 8 at 0x12
        + ecam_w(DEV_A, 0x3C, 0x0A, 1) + ecam_w(0, 4, 0x6, 2)                # the bridge: no hook
        + u8(10) + u8(2) + u8(0) + u8(0x3C << 1) + u8(3) + u8(1) + u32(5)   # length 3: dropped
        + u8(10) + u8(2) + u8(1) + u32(0x1000) + u8(4) + u8(1) + u32(5)     # beyond 4 KiB
        + u8(10) + u8(0) + u8(0) + u8(0x7E << 1) + u8(2) + u8(1) + u32(0x4000)
        + u8(11) + u8(1) + u8(1) + cmd(2, 0xF) + u8(14) + u8(3)
        + u8(13) + u8(0) + u8(2) + u8(13) + u8(1))
    write("pci_config", seeds)


# ---------------------------------------------------------------- boot
def boot_seeds():
    def up(v, a):
        return (v + a - 1) // a * a

    def note(name, ntype, desc, align=4):
        nb = name.encode() + b"\0"
        head = u32(len(nb)) + u32(len(desc)) + u32(ntype) + nb
        head += b"\0" * (up(len(head), align) - len(head))
        body = desc + b"\0" * (up(len(desc), align) - len(desc))
        return head + body

    def elf(is64, entry, segs, machine=None, shnote=None):
        """segs: (type, flags, paddr, vaddr, memsz, data)."""
        eh, ph, sh = (64, 56, 64) if is64 else (52, 32, 40)
        off = eh + len(segs) * ph
        body = b""
        phdrs = b""
        for (ptype, flags, paddr, vaddr, memsz, data) in segs:
            off = up(off, 8)
            pad = off - (eh + len(segs) * ph + len(body))
            body += b"\0" * pad + data
            if is64:
                phdrs += (u32(ptype) + u32(flags) + u64(off) + u64(vaddr or paddr) + u64(paddr)
                          + u64(len(data)) + u64(memsz) + u64(4))
            else:
                phdrs += (u32(ptype) + u32(off) + u32(vaddr or paddr) + u32(paddr)
                          + u32(len(data)) + u32(memsz) + u32(flags) + u32(4))
            off += len(data)
        shoff, shnum, tail = 0, 0, b""
        if shnote is not None:
            noff = up(off, 8)
            tail = b"\0" * (noff - off) + shnote
            off = noff + len(shnote)
            shoff = up(off, 8)
            tail += b"\0" * (shoff - off)
            null = b"\0" * sh
            if is64:
                nsec = u32(0) + u32(7) + u64(0) + u64(0) + u64(noff) + u64(len(shnote)) + u32(0) + u32(0) + u64(4) + u64(0)
            else:
                nsec = u32(0) + u32(7) + u32(0) + u32(0) + u32(noff) + u32(len(shnote)) + u32(0) + u32(0) + u32(4) + u32(0)
            tail += null + nsec
            shnum = 2
        ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1]) + b"\0" * 9
        m = machine or (62 if is64 else 3)
        if is64:
            hdr = (ident + u16(2) + u16(m) + u32(1) + u64(entry) + u64(eh) + u64(shoff) + u32(0)
                   + u16(eh) + u16(ph) + u16(len(segs)) + u16(sh) + u16(shnum) + u16(0))
        else:
            hdr = (ident + u16(2) + u16(m) + u32(1) + u32(entry) + u32(eh) + u32(shoff) + u32(0)
                   + u16(eh) + u16(ph) + u16(len(segs)) + u16(sh) + u16(shnum) + u16(0))
        return hdr + phdrs + body + tail

    def text(n, seed):
        return bytes((i * 7 + seed * 13 + (i >> 8)) & 0xFF for i in range(n))

    MB = 0x1BADB002

    def mb_header(flags, aout=None):
        h = u32(MB) + u32(flags) + u32((-(MB + flags)) & 0xFFFFFFFF)
        if aout:
            h += b"".join(u32(v) for v in aout)
        return h

    xen64 = (note("GNU", 3, text(20, 3)) + note("Linux", 6, b"\1\2\3\4")
             + note("Xen", 18, u64(0xDEADBEEF00000000 | 0x100040)))
    pvh64 = elf(True, 0xFFFFFFFF81000000, [
        (1, 5, 0x100000, 0xFFFFFFFF81000000, 0x5000, text(0x3000, 1)),
        (4, 4, 0, 0, len(xen64), xen64),
        (1, 6, 0x200000, 0xFFFFFFFF81100000, 0x1000, text(0x100, 2))])
    xen32 = note("Xen", 18, u32(0x100010))
    pvh32 = elf(False, 0x100000, [(4, 4, 0, 0, len(xen32), xen32),
                                  (1, 5, 0x100000, 0, 0x2000, text(0x1800, 4))])
    pvh_sh = elf(False, 0x100000, [(1, 5, 0x100000, 0, 0x2000, text(0x800, 4))],
                 shnote=note("Xen", 18, u32(0x100010)))
    mbtext = mb_header(3) + text(0x2000 - 12, 5)
    mb_elf = elf(False, 0x10000C, [(1, 5, 0x100000, 0, 0x3000, mbtext)])
    aout = bytearray(text(0x1234, 6))
    aout[0x40:0x40 + 32] = mb_header(0x10003, (0x100040, 0x100000, 0, 0x105000, 0x100060))

    def hdr(loader=0, cmd=None, rd=None, rdpath=False, rsdp=False, mapsel=0, errsel=3):
        b0 = loader | (4 if cmd is not None else 0) | (8 if rd is not None else 0)
        b0 |= (16 if rdpath else 0) | (32 if rsdp else 0) | mapsel << 6
        return u8(b0) + u8(cmd or 0) + u8(rd or 0) + u8(errsel)

    write("boot", {
        "pvh64": hdr(0, cmd=2, rd=4, rdpath=True, rsdp=True) + pvh64,
        "pvh32": hdr(2, cmd=5) + pvh32,
        "pvh-section-note": hdr(0, mapsel=1) + pvh_sh,
        "multiboot-elf": hdr(0, cmd=3, rd=2, rdpath=True) + mb_elf,
        "multiboot-aout": hdr(3, rd=5, mapsel=3) + bytes(aout),
        "tiny-map": hdr(0, mapsel=2, errsel=1) + pvh32,
    })

# ---------------------------------------------------------------- virtio
def virtio_seeds():
    T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 2, 3, 4, 5   # indices into types[]
    F_IND, F_POST, F_KICK, F_SPLIT, F_STATUS, F_FLIP = 1, 2, 4, 8, 0x10, 0x20

    def gpa_page(k):            # pick_gpa case 0: a data page (0x80000 + k * 4 KiB)
        return u8(k << 2)

    def gpa_raw(v):             # pick_gpa case 3: any address
        return u8(3) + value64(v)

    def len_sectors(n):         # pick_len case 0: n * 512, n <= 16
        return u8((n - 1) << 2)

    def len_small(n):           # pick_len case 1: n < 64
        return u8(n << 2 | 1)

    def seg(gpa, length, records=()):
        # discard / write-zeroes data: (sector, sectors, flags) per 16 bytes
        b = gpa + length
        for sec, num, flags in records:
            b += u8(0) + u8(sec) + u8(num) + u8(flags)
        return b

    def req(m, q, slot, type_idx, sector, segs=(), status=b""):
        return (u8(0) + u8(m) + u8(q) + u8(slot) + u8(len(segs)) + u8(type_idx) + u8(sector)
                + b"".join(segs) + status)

    def init(m=0, sizes=()):
        return u8(5) + u8(m) + b"".join(u8(s) for s in sizes)

    poll, drain = u8(10), u8(26)

    def consume(q=0, isr=False):
        return u8(12) + u8(q | (0x80 if isr else 0))

    def status(v):              # raw device status
        return u8(4) + u8(0x80) + u8(v)

    def pci(m, *rest):
        return u8(13) + u8(m) + b"".join(rest)

    def desc(q, idx, gpa, length, flags, nxt):
        # op 7: m = q | 0x20 (u16 flags), index, address, length, flags, next
        return u8(7) + u8(q | 0x20) + u8(idx) + gpa + length + u16(flags) + u8(nxt)

    def avail_post(q, head):
        return u8(8) + u8(q << 2) + u8(head)

    def avail_idx(q, idx):
        return u8(8) + u8(q << 2 | 1) + u16(idx)

    go = F_POST | F_KICK
    rw = (req(go, 0, 0, T_OUT, 8, [seg(gpa_page(0), len_sectors(4))])
          + drain + consume()
          + req(go, 0, 1, T_IN, 8, [seg(gpa_page(1), len_sectors(2)), seg(gpa_page(2), len_sectors(2))])
          + req(go, 0, 2, T_FLUSH, 0)
          + req(go, 0, 3, T_GET_ID, 0, [seg(gpa_page(3), len_small(20))])
          + req(go, 0, 4, T_DISCARD, 0, [seg(gpa_page(4), len_small(32), [(8, 8, 0), (100, 4, 0)])])
          + req(go, 0, 5, T_WZ, 0, [seg(gpa_page(5), len_small(16), [(16, 16, 1)])])
          + drain + consume(0, True))
    seeds = {}
    # One queue of 64, RAM backend: every request type, direct chains.
    seeds["rw-direct"] = u8(0x08) + init() + rw
    # Indirect tables, split headers, EVENT_IDX (all features accepted).
    seeds["indirect"] = (
        u8(0x08) + init()
        + req(go | F_IND | F_SPLIT, 0, 6, T_OUT, 0, [seg(gpa_page(6), len_sectors(1)),
                                                     seg(gpa_page(7), len_sectors(3))])
        + req(go | F_IND, 0, 7, T_IN, 0, [seg(gpa_page(8), len_sectors(4))])
        + drain + consume() + rw)
    # Deferred backend: requests in flight across a reset, Bus Master
    # Enable off, an I/O error, a function reset and the setup again.
    seeds["deferred-reset"] = (
        u8(0x18) + init() + rw.replace(drain, poll)
        + poll + status(0) + init() + rw.replace(drain, poll)
        + pci(0) + drain + u8(15) + u8(0x80) + u32(0x5) + pci(8) + pci(5) + pci(6)
        + init() + rw)
    # Four queues of 16 on INTx (no MSI-X), config interrupts off.
    seeds["intx-mq"] = (
        u8(0x47) + init(0x08)
        + req(go, 1, 0, T_OUT, 0, [seg(gpa_page(0), len_sectors(1))])
        + req(go, 2, 1, T_IN, 0, [seg(gpa_page(1), len_sectors(1))])
        + req(go, 3, 2, T_GET_ID, 0, [seg(gpa_page(2), len_small(40))])
        + poll + consume(1, True) + drain + consume(2, True) + consume(3, True))
    # Guest mistakes: a descriptor loop, next beyond the table, an index
    # jump, a chain without status, then the reset that recovers.
    seeds["bad-chains"] = (
        u8(0x04) + init()                           # queues of 16
        + desc(0, 0, u8(2) + u8(0), len_small(16), 1, 1)    # rings area, NEXT
        + desc(0, 1, gpa_page(0), len_small(16), 1, 0)      # ... back to 0
        + avail_post(0, 0) + u8(9) + u8(0) + drain
        + status(0) + init()
        + desc(0, 0, gpa_page(0), len_small(16), 1, 200)
        + avail_post(0, 0) + u8(9) + u8(0) + drain
        + status(0) + init() + avail_idx(0, 40) + u8(9) + u8(0) + drain
        + status(0) + init()
        + req(go, 0, 0, T_OUT, 0, [seg(gpa_raw(0x7FFFF000), len_sectors(1))])
        + req(go | F_STATUS, 0, 1, T_IN, 0, [seg(gpa_page(1), len_sectors(1))],
              gpa_raw(0x10000000) + len_small(1))
        + drain + status(0x80) + status(0) + init() + rw)
    # Firmware's PCI_CFG window: num_queues read, then the status written.
    seeds["cfg-window"] = (
        u8(0x08) + pci(4, u8(5), u8(1))             # read NUMQ, 2 bytes
        + pci(4 | 0x20, u8(6), u8(0), u8(1 << 2))           # write status = 1
        + init() + rw
        + pci(3 | 0x40, u8(1 * 4 + 3), u32(1))              # mask vector 1
        + rw + pci(3 | 0x40, u8(1 * 4 + 3), u32(0)) + pci(2 | 0x10 | 8) + rw)
    write("virtio", seeds)


# ---------------------------------------------------------------- viommu
def viommu_seeds():
    G_STATUS = 0xC0000
    SRTP, TE, QIE, SIRTP, IRE, CFI = 0, 1, 2, 3, 4, 5      # gcmd op: bits[]
    FSTS, FECTL, FEDATA, FEADDR, ICS, IECTL, IEDATA, IEADDR = 1, 2, 3, 4, 6, 7, 8, 9   # regs32[]

    def w32(idx, v):            # op 0: a register of regs32[], raw 32-bit value
        return u8(0) + u8(idx) + u8(2) + u32(v)

    def w64_at(off, v):         # op 1: any 8-aligned offset, raw value
        return u8(1) + u8(0x80) + u16(off) + u8(3) + value64(v)

    def gcmd(bit, on=True):
        return u8(3) + u8(bit | (0 if on else 0x80))

    def root(bus=0):
        return u8(4) + u8(bus << 2)

    def ctx(devfn, pool, did, aw48=True, bus=0, fpd=False):
        return (u8(4) + u8(1 | bus << 2) + u8(devfn) + u8(pool | (0x10 if aw48 else 0) |
                                                          (0x80 if fpd else 0)) + u8(did))

    def sl_table(page, idx, child):
        return u8(4) + u8(2 | page << 2) + u8(idx) + u8(0) + u8(child)

    def sl_leaf(page, idx, data_page, perm=3):
        return u8(4) + u8(2 | page << 2) + u8(idx) + u8(1 << 2 | perm) + u8(data_page << 2)

    def sl_super(page, idx, twomeg, perm=3):
        return u8(4) + u8(2 | page << 2) + u8(idx) + u8(2 << 2 | perm) + u8(2 | twomeg << 2)

    def irte(idx, vector, dest, svt=1, sq=0, p=1, fpd=0, tm=0, sid=None):
        a = p | fpd << 1 | tm << 4
        b = svt | sq << 2 | (0x10 if sid is not None else 0)
        return (u8(4) + u8(3) + u8(idx) + u8(a) + u8(b) + u8(vector) + u8(dest)
                + (u16(sid) if sid is not None else b""))

    def translation_on(inval=True):
        return u8(6) + u8(2 if inval else 0)

    def sid(i):                 # pick_sid: 0 00:03.0, 1 00:04.0, 2 01:00.0, 3 IOAPIC
        return u8(i)

    def iova_page(k, off=None):
        return u8(k << 2) + (u8(1) + u16(off) if off is not None else u8(0))

    def iova_big(twomeg, off=0):
        return u8(1 | twomeg << 2) + u16(off >> 4)

    def iova_raw(v):
        return u8(3) + value64(v)

    def xlate(s, iova, req):
        return u8(7) + s + iova + u8(req)

    def dma(s, iova, length, write):
        return u8(8) + s + iova + u8(1 if write else 0) + u16(length - 1)

    def qi_on(qs=0):
        return u8(11) + u8(qs)

    def qi_m(kind, g, top=0):
        # op_qi_put: m % 5 the descriptor, (m >> 3) % 3 + 1 its granularity,
        # m >> 6 the function mask (context) or DR/DW (IOTLB).
        return next(m for m in range(256) if m % 5 == kind and (m >> 3) % 3 == g - 1 and m >> 6 == top)

    def qi_cc(g, did=0, s=sid(0), fm=0):                 # 1 global, 2 domain, 3 device
        return u8(9) + u8(qi_m(0, g, fm)) + u8(did) + s

    def qi_iotlb(g, did=0, iova=iova_page(0), am=0):     # 1 global, 2 domain, 3 page
        return u8(9) + u8(qi_m(1, g)) + u8(did) + iova + u8(am)

    def qi_iec(index=0, selective=False):
        m = 2 + (5 if selective else 0)                     # m & 8 for 7 = 0b111: no
        return u8(9) + u8(m) + u16(index)

    def qi_wait(data, sw=True, intr=False, slot=0):
        return u8(9) + u8(3) + u8((1 if sw else 0) | (2 if intr else 0)) + u32(data) + u8(slot * 4)

    def qi_wait_at(data, addr):
        return u8(9) + u8(3) + u8(1 | 8) + u32(data) + value64(addr)

    def qi_raw(lo, hi):
        return u8(9) + u8(4) + value64(lo) + value64(hi)

    commit = u8(10) + u8(0)

    def ir_on(s_bits=7, cfi=False):
        return u8(12) + u8(s_bits | (0x10 if cfi else 0))

    def remap(s, handle, data=0, shv=False):
        return u8(13) + s + u8(0 | (4 if shv else 0)) + u16(handle) + u16(data)

    def remap_compat(s, dest, data):
        return u8(13) + s + u8(1) + u8(dest) + u16(data)

    def handler(step, high=False):  # op 15: fault handler step m % 6; high: m & 0x80
        return u8(15) + u8(0x84 + step if high else step)

    def reg_inv(iotlb, gran, did, arg=b"", halves=False):
        m = 1 | (2 if iotlb else 0) | (gran - 1) << 2 | (0x40 if halves else 0)
        return u8(14) + u8(m) + arg + u8(did)      # IOTLB: IOVA, AM, DID

    reset = u8(15) + u8(0xFF)
    events = (w32(FEDATA, 0x41) + w32(FEADDR, 0xFEE00000) + w32(IEDATA, 0x42)
              + w32(IEADDR, 0xFEE00000))
    # Root -> context (00:03.0, DID 5) -> 4-level tables: 4K pages at IOVA
    # 0-0x3fff, 2M pages at 1 GiB (the second beyond RAM), a 1G page at 2 GiB.
    tables = (root() + ctx(0x18, 0, 5) + ctx(0x20, 5, 6, fpd=True)
              + sl_table(0, 0, 1) + sl_table(1, 0, 2) + sl_table(2, 0, 3)
              + sl_leaf(3, 0, 0) + sl_leaf(3, 1, 1, 1) + sl_leaf(3, 2, 2, 2) + sl_leaf(3, 3, 3)
              + sl_table(1, 1, 4) + sl_super(4, 0, 0) + sl_super(4, 1, 1)
              + sl_super(1, 2, 0) + u8(4) + u8(2 | 1 << 2) + u8(2) + u8(2 << 2 | 3) + u8(2))
    seeds = {}
    seeds["translate-dma"] = (
        u8(0x00) + events + tables + translation_on()
        + xlate(sid(0), iova_page(0, 0x123), 3) + xlate(sid(0), iova_page(1), 2)
        + xlate(sid(0), iova_page(2), 1) + xlate(sid(0), iova_big(0, 0x1230), 3)
        + xlate(sid(0), iova_big(1), 1) + xlate(sid(0), iova_raw(0x80000000), 1)
        + xlate(sid(0), iova_page(9), 1) + xlate(sid(1), iova_page(0), 1)
        + xlate(sid(2), iova_page(0), 2) + xlate(sid(0), iova_page(0), 8 | 1)
        + dma(sid(0), iova_page(0, 0x800), 12 * 1024, True)
        + dma(sid(0), iova_page(0), 8192, False) + dma(sid(0), iova_big(0, 0x1F0000), 0x20000, True)
        + handler(0) + handler(3) + handler(1) + handler(2)
        + xlate(sid(0), iova_page(40), 2) + handler(3, True) + xlate(sid(0), iova_page(41), 2)
        + handler(1) + handler(3)
        + gcmd(TE, False) + xlate(sid(0), iova_page(5), 3) + reset)
    seeds["qi"] = (
        u8(0x00) + events + tables + translation_on() + qi_on(0)
        + xlate(sid(0), iova_page(0), 3)
        + qi_cc(1) + qi_cc(2, 5) + qi_cc(3, 5, sid(0), 3) + qi_iotlb(1) + qi_iotlb(2, 5)
        + qi_iotlb(3, 5, iova_page(0), 2) + qi_iotlb(3, 5, iova_page(1), 1) + qi_iec(3)
        + qi_wait(0x1234) + commit
        + qi_wait(0x5678, intr=True, slot=1) + commit + handler(5) + handler(4)
        + qi_wait(1, intr=True, slot=2) + commit
        + qi_wait_at(7, 0x10000000) + qi_raw(0x3, 0) + commit           # device-TLB: IQE
        + handler(2) + qi_raw(0x5 | 1 << 7, 0) + commit + handler(3) + handler(2)
        + u8(1) + u8(5) + u8(3) + value64(0x1000)                       # IQT out of range
        + handler(2) + reset + translation_on() + qi_on(7)
        + b"".join(qi_iotlb(1) for _ in range(6)) + qi_wait(9, slot=3) + commit
        + reg_inv(True, 2, 5, iova_page(0) + u8(0))                     # ignored: QI is on
        + gcmd(QIE, False)
        + reg_inv(True, 3, 5, iova_page(0) + u8(0), halves=True)
        + reg_inv(True, 3, 5, iova_page(1) + u8(3)) + reg_inv(True, 1, 0, iova_page(0) + u8(0))
        + u8(14) + u8(1 | 2 << 2) + u8(5) + sid(0)                      # CCMD device
        + u8(14) + u8(1) + u8(0) + sid(0))                               # CCMD global
    seeds["irq"] = (
        u8(0x00) + events
        + irte(0, 0x30, 1) + irte(1, 0x31, 2, svt=1, sq=3) + irte(2, 0x32, 3, svt=2, sid=0x0001)
        + irte(3, 0x33, 0, p=0, fpd=1) + irte(4, 0x34, 0, svt=3) + irte(5, 0x35, 1, tm=1,
                                                                      svt=0)
        + remap(sid(0), 0) + ir_on(3)
        + remap(sid(0), 0) + remap(sid(4), 1) + remap(sid(2), 2) + remap(sid(1), 0)
        + remap(sid(0), 3) + remap(sid(0), 4) + remap(sid(0), 1, 2, shv=True)
        + remap(sid(0), 200) + remap(sid(3), 5, 0x8035) + remap_compat(sid(0), 1, 0x30)
        + gcmd(CFI) + remap_compat(sid(0), 1, 0x30)
        + u8(13) + sid(0) + u8(3) + value64(0x12345678) + u16(0)
        + u8(13) + sid(0) + u8(0x80) + u16(0) + u32(0x10000)
        + handler(3) + handler(0) + handler(1)
        + qi_on(0) + qi_iec(0) + qi_iec(5, True) + qi_wait(3, intr=True) + commit
        + gcmd(IRE, False) + remap(sid(0), 9))
    seeds["registers"] = (
        u8(0x04)
        + b"".join(u8(2) + u8(ln) + u16(off) for off in range(0, 0x100, 4) for ln in (2, 3))
        + b"".join(u8(2) + u8(ln) + u16(FRCDo) for FRCDo in (0x220, 0x228, 0x29C) for ln in (2, 3))
        + u8(2) + u8(0x80 | 1) + u16(0x18) + u8(0)                      # 2-byte GCMD write
        + u8(2) + u8(0x80 | 3) + u16(0x1C) + value64(0)                 # misaligned 8
        + w64_at(0x20, 0xC00 | 0x10000) + gcmd(SRTP) + gcmd(TE)        # TTM = 11b
        + xlate(sid(0), iova_page(0), 1)
        + u8(0) + u8(0) + u8(2) + u32(0xFFFFFFFF)                      # GCMD all ones
        + w64_at(0x90, 0x40000 | 1 << 11) + qi_on(0x80) + value64(0x40000 | 1 << 11)
        + commit + w64_at(0x88, 0x10) + handler(2)
        + w64_at(0x30, 0xFFFFFFFF00000000) + w64_at(0x38, 0) + w64_at(0xA0, 0)
        + reset + gcmd(TE) + gcmd(IRE) + gcmd(QIE, False))
    def run(k, desc):           # op 9 with k in the opcode's upper bits: k * 17 copies
        return u8(9 | k << 4) + desc[1:]

    # A 256-entry queue filled to its wrap twice, completion events masked
    # and released.
    seeds["qi-wrap"] = (
        u8(0x00) + events + qi_on(0) + run(15, qi_iotlb(1)) + commit
        + qi_wait(0xAA, intr=True) + commit + run(1, qi_cc(1)) + qi_wait(0xBB, slot=1) + commit
        + handler(5) + handler(4) + run(14, qi_iec(0)) + qi_wait(0xCC, intr=True, slot=2)
        + commit + handler(5, True) + handler(4) + qi_wait(0xDD, intr=True) + commit + handler(5))
    seeds["shadow-39"] = (
        u8(0x03) + events + root() + ctx(0x18, 0, 7, aw48=False) + ctx(0x19, 0, 7, aw48=True)
        + sl_table(0, 0, 2) + sl_table(2, 0, 3) + sl_leaf(3, 0, 0) + sl_super(2, 1, 0)
        + translation_on() + xlate(sid(0), iova_page(0), 3) + xlate(sid(4), iova_page(0), 3)
        + xlate(sid(0), iova_raw(1 << 39), 1) + xlate(sid(0), iova_raw(0x201000), 1)
        + qi_on(1) + qi_iotlb(3, 7, iova_page(0), 0) + qi_wait(5) + commit
        + dma(sid(0), iova_page(0), 4096, True) + xlate(sid(0), iova_page(1), 1))

    # Two-stage (configuration bit 3): the guest unit over a host unit and
    # the VM's host domain, DMA nested (bit 0 clear) or through the shadow
    # composer (bit 0 set); bit 2 then maps the host side in 4K pages and
    # gives the composer tight budgets. Descriptors with the granularity
    # exact (op_qi_put: gran = 1 + (m >> 3) % 3).
    def done(slot):                                       # a wait with status, then the tail
        return qi_wait(0x100 + slot, slot=slot) + commit

    raw_sid = u8(0xF0) + u16(0x0200)                      # 02:00.0: behind no host domain
    dmas = (dma(sid(0), iova_page(0, 0x800), 12 * 1024, True) + dma(sid(0), iova_page(0), 8192, False)
            + dma(sid(0), iova_raw(0x401FF000), 0x2000, True)            # 2M in RAM, then beyond
            + dma(sid(0), iova_raw(0x80001000), 4096, True)              # 1G page at 2G
            + dma(sid(1), iova_page(0), 64, True) + dma(sid(2), iova_page(0), 64, False)
            + dma(raw_sid, iova_page(0), 64, True))
    seeds["nested-host-dma"] = (
        u8(0x08) + events + tables + translation_on() + qi_on(0)
        + xlate(sid(0), iova_page(0, 0x123), 3) + xlate(sid(0), iova_big(0, 0x1230), 3) + dmas
        # repointed without an invalidation: the cached entry may serve
        + sl_leaf(3, 0, 7) + dma(sid(0), iova_page(0), 4096, True) + xlate(sid(0), iova_page(0), 1)
        + qi_iotlb(3, 5, iova_page(0)) + done(0) + dma(sid(0), iova_page(0), 4096, True)
        + sl_super(4, 0, 0, 1) + dma(sid(0), iova_big(0, 0x10000), 0x100, False)
        + qi_iotlb(2, 5) + done(1) + dma(sid(0), iova_big(0, 0x10000), 0x100, True)
        + reg_inv(True, 3, 5, iova_page(0) + u8(2)) + dma(sid(0), iova_page(1), 0x100, False)
        + ctx(0x18, 0, 3) + qi_cc(3, 5, sid(0)) + done(2) + dma(sid(0), iova_page(2), 64, True)
        + qi_cc(1) + qi_iotlb(1) + done(3) + dma(sid(0), iova_page(2), 64, True)
        + gcmd(TE, False) + dma(sid(0), iova_page(0x110), 4096, True)
        + dma(raw_sid, iova_page(0x110), 64, True) + reset + dma(sid(0), iova_page(3), 100, True))
    seeds["nested-host-4k"] = (
        u8(0x0C) + events + tables + translation_on() + qi_on(0) + dmas
        + xlate(sid(0), iova_big(0, 0x12340), 3) + xlate(sid(0), iova_big(0, 0x45670), 3)
        + sl_super(4, 0, 0, 1) + dma(sid(0), iova_big(0, 0x12000), 0x2000, True)
        + qi_iotlb(3, 5, iova_big(0, 0x12000), 0) + done(0)
        + dma(sid(0), iova_big(0, 0x12000), 0x2000, True) + dma(sid(0), iova_big(0, 0x12000), 0x2000, False))
    seeds["shadow-compose"] = (
        u8(0x09) + events + tables + translation_on() + qi_on(0) + dmas
        # mapped: not shadowed until the guest invalidates (Caching Mode)
        + sl_leaf(3, 4, 4) + dma(sid(0), iova_page(4), 64, True)
        + qi_iotlb(3, 5, iova_page(4)) + done(0) + dma(sid(0), iova_page(4), 64, True)
        # repointed and removed: the old pages until the domain is invalidated
        + sl_leaf(3, 0, 8) + sl_leaf(3, 2, 0, 0) + dma(sid(0), iova_page(0), 64, True)
        + qi_iotlb(2, 5) + done(1) + dma(sid(0), iova_page(0), 64, True)
        + dma(sid(0), iova_page(2), 64, False)
        # a 2M page made read-only, a 4K range invalidation with AM
        + sl_super(4, 0, 0, 1) + qi_iotlb(3, 5, iova_big(0), 9) + done(2)
        + dma(sid(0), iova_big(0, 0x800), 64, True) + dma(sid(0), iova_big(0, 0x800), 64, False)
        # 00:04.0 joins domain 5, then gets a table of its own
        + ctx(0x20, 0, 5) + qi_cc(1) + done(3) + dma(sid(1), iova_page(0), 64, False)
        + ctx(0x20, 6, 2) + sl_table(6, 0, 7) + sl_table(7, 0, 8) + sl_table(8, 0, 9)
        + sl_leaf(9, 0, 0x20) + qi_cc(3, 2, sid(1)) + done(0) + dma(sid(1), iova_page(0), 64, True)
        + qi_iotlb(1) + done(1) + dma(sid(1), iova_page(0), 64, True)
        + reg_inv(True, 3, 5, iova_page(0) + u8(0)) + reg_inv(False, 1, 0, sid(0))
        + gcmd(TE, False) + dma(sid(0), iova_page(0x120), 4096, True) + gcmd(TE)
        + dma(sid(0), iova_page(3), 64, True) + reset + dma(sid(0), iova_page(0x130), 64, True))
    seeds["shadow-tight-4k"] = (
        u8(0x0D) + events + tables + sl_table(0, 1, 0) + sl_table(0, 2, 1) + translation_on()
        + qi_on(0) + dmas + ctx(0x20, 5, 6) + sl_table(5, 0, 10) + sl_table(10, 0, 11)
        + sl_table(11, 0, 12) + sl_leaf(12, 0, 3) + qi_cc(1) + qi_iotlb(1) + done(0)
        + dma(sid(1), iova_page(0), 64, True) + sl_leaf(3, 5, 5) + qi_iotlb(3, 5, iova_page(5))
        + done(1) + dma(sid(0), iova_page(5), 64, True))
    write("viommu", seeds)


GENERATORS = {"boot": boot_seeds, "iopt": iopt_seeds, "vtd_tables": vtd_seeds, "nvme": nvme_seeds,
              "pci_config": pci_seeds, "virtio": virtio_seeds,
              "viommu": viommu_seeds}

if __name__ == "__main__":
    for n in sys.argv[1:] or GENERATORS:
        GENERATORS[n]()
