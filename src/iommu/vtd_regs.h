/* Intel VT-d (Virtualization Technology for Directed I/O) in-memory formats,
 * legacy (non-scalable) mode, bit for bit as the specification lays them out:
 * root entry, context entry, second-level paging entry, fault record, and the
 * capability fields this model reports. Only definitions live here; the page
 * table format is in iopt_vtd.c, the remapping hardware in vtd*.c. */
#ifndef WARDEN_IOMMU_VTD_REGS_H
#define WARDEN_IOMMU_VTD_REGS_H

#include <stdint.h>
#include <stdbool.h>

/* Source-id (requester id): bus in bits 15:8, device 7:3, function 2:0. */
#define VTD_SID(bus, dev, fn)   ((uint16_t)(((bus) & 0xff) << 8 | ((dev) & 0x1f) << 3 | ((fn) & 7)))
#define VTD_SID_BUS(sid)        (((sid) >> 8) & 0xff)
#define VTD_SID_DEV(sid)        (((sid) >> 3) & 0x1f)
#define VTD_SID_FN(sid)         ((sid) & 7)
#define VTD_SID_DEVFN(sid)      ((sid) & 0xff)
/* Messages print a source-id as BB:DD.F. */
#define SID_FMT                 "%02x:%02x.%x"
#define SID_ARGS(sid)           VTD_SID_BUS(sid), VTD_SID_DEV(sid), VTD_SID_FN(sid)

#define VTD_PAGE_SHIFT          12
#define VTD_PAGE_SIZE           (1ull << VTD_PAGE_SHIFT)
#define VTD_PAGE_MASK           (~(VTD_PAGE_SIZE - 1))
#define VTD_LEVEL_STRIDE        9
#define VTD_ENTRIES_PER_TABLE   512

/* ---- Root entry (128 bits; root table = 256 entries indexed by bus) ---- */
#define VTD_ROOT_ENTRY_SIZE     16
#define VTD_ROOT_LO_P           (1ull << 0)
#define VTD_ROOT_LO_RSVD_11_1   0xffeull
#define VTD_ROOT_LO_CTP_MASK    VTD_PAGE_MASK          /* context-table pointer */
/* The upper 64 bits are reserved in legacy mode. */

/* ---- Context entry (128 bits; context table = 256 entries by devfn) ---- */
#define VTD_CTX_ENTRY_SIZE      16
#define VTD_CTX_LO_P            (1ull << 0)
#define VTD_CTX_LO_FPD          (1ull << 1)            /* fault processing disable */
#define VTD_CTX_LO_TT_SHIFT     2
#define VTD_CTX_LO_TT_MASK      (3ull << VTD_CTX_LO_TT_SHIFT)
#define VTD_CTX_LO_RSVD_11_4    0xff0ull
#define VTD_CTX_LO_SLPTPTR_MASK VTD_PAGE_MASK
#define VTD_CTX_HI_AW_MASK      7ull
#define VTD_CTX_HI_IGN_6_3      0x78ull
#define VTD_CTX_HI_RSVD_7       0x80ull
#define VTD_CTX_HI_DID_SHIFT    8
#define VTD_CTX_HI_DID_MASK     (0xffffull << VTD_CTX_HI_DID_SHIFT)
#define VTD_CTX_HI_RSVD_63_24   0xffffffffff000000ull

/* Translation type (TT). */
enum vtd_tt {
	VTD_TT_TRANSLATED  = 0,   /* untranslated requests go through second-level tables */
	VTD_TT_DEV_TLB     = 1,   /* same, device-TLB (ATS) enabled: not supported here */
	VTD_TT_PASSTHROUGH = 2,   /* untranslated requests use the input address as HPA */
	VTD_TT_RESERVED    = 3,
};

/* Address width (AW) encodings; AW n means 30 + 9n bits, n + 2 levels. */
enum vtd_aw {
	VTD_AW_39BIT = 1,         /* 3-level table */
	VTD_AW_48BIT = 2,         /* 4-level table */
	VTD_AW_57BIT = 3,         /* 5-level: not supported by this model */
};

static inline unsigned vtd_aw_to_bits(unsigned aw)   { return 30 + 9 * aw; }
static inline unsigned vtd_aw_to_levels(unsigned aw) { return aw + 2; }
static inline int vtd_bits_to_aw(unsigned bits)
{
	return bits == 39 ? VTD_AW_39BIT : bits == 48 ? VTD_AW_48BIT : -1;
}

/* ---- Second-level paging entry (64 bits, 512 per 4 KiB table) ---- */
#define VTD_SL_R                (1ull << 0)
#define VTD_SL_W                (1ull << 1)
#define VTD_SL_X                (1ull << 2)            /* ignored: SLEE not reported */
#define VTD_SL_PS               (1ull << 7)            /* page size: leaf at level 2/3 */
#define VTD_SL_SNP              (1ull << 11)           /* reserved: ECAP.SC = 0 */
#define VTD_SL_ADDR_MASK        0x000ffffffffff000ull  /* bits 51:12 */
#define VTD_SL_TM               (1ull << 62)           /* reserved: no device-TLB */
/* Bits 61:52 and 63 are ignored by hardware (available to software). */
#define VTD_SL_IGN_MASK         0xbff0000000000000ull

/* Reserved bits of a present second-level entry at `level` (1 = PTE .. 4 =
 * PML4E) for a host address width of haw bits. A present entry with any of
 * these set faults with VTD_FR_PAGING_ENTRY_RSVD. */
static inline uint64_t vtd_sl_rsvd_mask(unsigned level, bool large, unsigned haw)
{
	uint64_t m = ~(((1ull << haw) - 1) | VTD_SL_IGN_MASK) | VTD_SL_SNP;

	if (level == 4)
		m |= VTD_SL_PS;                        /* no 512 GiB pages */
	if (large)
		m |= level == 2 ? 0x1ff000ull : 0x3ffff000ull;  /* below 2M / 1G alignment */
	return m;
}

/* ---- Fault reasons (primary fault logging, non-recoverable) ---- */
enum vtd_fault_reason {
	VTD_FR_NONE               = 0x0,
	VTD_FR_ROOT_ENTRY_P       = 0x1,  /* root entry Present = 0 */
	VTD_FR_CONTEXT_ENTRY_P    = 0x2,  /* context entry Present = 0 */
	VTD_FR_CONTEXT_ENTRY_INV  = 0x3,  /* invalid programming (AW, TT) */
	VTD_FR_ADDR_BEYOND_MGAW   = 0x4,  /* input address above 2^min(AGAW, MGAW) - 1 */
	VTD_FR_WRITE              = 0x5,  /* write to a page without W (incl. not present) */
	VTD_FR_READ               = 0x6,  /* read of a page without R (incl. not present) */
	VTD_FR_PAGING_ENTRY_INV   = 0x7,  /* access to a second-level table failed */
	VTD_FR_ROOT_TABLE_INV     = 0x8,  /* access to the root table failed */
	VTD_FR_CONTEXT_TABLE_INV  = 0x9,  /* access to a context table failed */
	VTD_FR_ROOT_ENTRY_RSVD    = 0xa,  /* reserved bit set in a present root entry */
	VTD_FR_CONTEXT_ENTRY_RSVD = 0xb,  /* reserved bit set in a present context entry */
	VTD_FR_PAGING_ENTRY_RSVD  = 0xc,  /* reserved bit set in a present SL entry */
	VTD_FR_CONTEXT_ENTRY_TT   = 0xd,  /* translated request blocked by TT */
	VTD_FR_INTERRUPT_ADDR     = 0xe,  /* output address in the interrupt range */
	VTD_FR_MAX                = 0x100,
};

const char *vtd_fault_reason_str(unsigned reason);

/* Interrupt address range: a translation must not produce an address here. */
#define VTD_INTERRUPT_ADDR_FIRST 0xfee00000ull
#define VTD_INTERRUPT_ADDR_LAST  0xfeefffffull

/* ---- Fault recording register (FRCD, 128 bits) ---- */
#define VTD_FRCD_LO_FI_MASK     VTD_PAGE_MASK          /* fault info: page address */
#define VTD_FRCD_HI_SID_MASK    0xffffull
#define VTD_FRCD_HI_FR_SHIFT    32
#define VTD_FRCD_HI_FR_MASK     (0xffull << VTD_FRCD_HI_FR_SHIFT)
#define VTD_FRCD_HI_T           (1ull << 62)           /* 1 = read, 0 = write */
#define VTD_FRCD_HI_F           (1ull << 63)           /* fault recorded */

/* ---- Capability register fields this model reports ---- */
#define VTD_CAP_ND_SHIFT        0
#define VTD_CAP_SAGAW_SHIFT     8
#define VTD_CAP_MGAW_SHIFT      16
#define VTD_CAP_FRO_SHIFT       24
#define VTD_CAP_SLLPS_2M        (1ull << 34)
#define VTD_CAP_SLLPS_1G        (1ull << 35)
#define VTD_CAP_PSI             (1ull << 39)
#define VTD_CAP_NFR_SHIFT       40
#define VTD_CAP_MAMV_SHIFT      48
#define VTD_CAP_DWD             (1ull << 54)
#define VTD_CAP_DRD             (1ull << 55)
#define VTD_ECAP_C              (1ull << 0)
#define VTD_ECAP_PT             (1ull << 6)

/* Entry builders used by the host domain code and by tests; they only
 * assemble bits, the hardware model is what checks them. */
static inline uint64_t vtd_root_entry_lo(uint64_t ctp)
{
	return (ctp & VTD_ROOT_LO_CTP_MASK) | VTD_ROOT_LO_P;
}

static inline uint64_t vtd_ctx_entry_lo(uint64_t slptptr, enum vtd_tt tt, bool fpd)
{
	return (slptptr & VTD_CTX_LO_SLPTPTR_MASK) | (uint64_t)tt << VTD_CTX_LO_TT_SHIFT |
	       (fpd ? VTD_CTX_LO_FPD : 0) | VTD_CTX_LO_P;
}

static inline uint64_t vtd_ctx_entry_hi(uint16_t did, unsigned aw)
{
	return (uint64_t)did << VTD_CTX_HI_DID_SHIFT | (aw & VTD_CTX_HI_AW_MASK);
}

#endif
