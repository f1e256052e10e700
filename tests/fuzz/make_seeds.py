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


GENERATORS = {"boot": boot_seeds, "iopt": iopt_seeds, "vtd_tables": vtd_seeds, "nvme": nvme_seeds,
              "pci_config": pci_seeds}

if __name__ == "__main__":
    for n in sys.argv[1:] or GENERATORS:
        GENERATORS[n]()
