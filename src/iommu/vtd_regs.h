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

/* ======================================================================
 * Register interface (VT-d spec chapter 10), queued invalidation
 * descriptors (6.5.2) and interrupt remapping (5.1, 9.10): what a
 * guest-visible register model needs.
 * ====================================================================== */

/* ---- Register offsets ---- */
#define VTD_REG_VER             0x000   /* 32: version */
#define VTD_REG_CAP             0x008   /* 64: capability */
#define VTD_REG_ECAP            0x010   /* 64: extended capability */
#define VTD_REG_GCMD            0x018   /* 32: global command (write only) */
#define VTD_REG_GSTS            0x01c   /* 32: global status */
#define VTD_REG_RTADDR          0x020   /* 64: root table address */
#define VTD_REG_CCMD            0x028   /* 64: context command */
#define VTD_REG_FSTS            0x034   /* 32: fault status */
#define VTD_REG_FECTL           0x038   /* 32: fault event control */
#define VTD_REG_FEDATA          0x03c   /* 32: fault event data */
#define VTD_REG_FEADDR          0x040   /* 32: fault event address */
#define VTD_REG_FEUADDR         0x044   /* 32: fault event upper address */
#define VTD_REG_AFLOG           0x058   /* 64: advanced fault log (CAP.AFL = 0) */
#define VTD_REG_PMEN            0x064   /* 32: protected memory enable (PLMR = PHMR = 0) */
#define VTD_REG_IQH             0x080   /* 64: invalidation queue head */
#define VTD_REG_IQT             0x088   /* 64: invalidation queue tail */
#define VTD_REG_IQA             0x090   /* 64: invalidation queue address */
#define VTD_REG_ICS             0x09c   /* 32: invalidation completion status */
#define VTD_REG_IECTL           0x0a0   /* 32: invalidation event control */
#define VTD_REG_IEDATA          0x0a4   /* 32: invalidation event data */
#define VTD_REG_IEADDR          0x0a8   /* 32: invalidation event address */
#define VTD_REG_IEUADDR         0x0ac   /* 32: invalidation event upper address */
#define VTD_REG_IQERCD          0x0b0   /* 64: invalidation queue error record */
#define VTD_REG_IRTA            0x0b8   /* 64: interrupt remapping table address */
/* IVA_REG at ECAP.IRO * 16, IOTLB_REG right after; FRCD at CAP.FRO * 16. */
#define VTD_REG_IVA_OFF         0x0     /* 64: invalidate address */
#define VTD_REG_IOTLB_OFF       0x8     /* 64: IOTLB invalidate */
#define VTD_FRCD_SIZE           16

/* ---- More capability fields ---- */
#define VTD_CAP_CM              (1ull << 7)            /* caching mode */
#define VTD_CAP_FRO_MASK        (0x3ffull << VTD_CAP_FRO_SHIFT)
#define VTD_ECAP_QI             (1ull << 1)
#define VTD_ECAP_DT             (1ull << 2)
#define VTD_ECAP_IR             (1ull << 3)
#define VTD_ECAP_EIM            (1ull << 4)
#define VTD_ECAP_IRO_SHIFT      8
#define VTD_ECAP_IRO_MASK       (0x3ffull << VTD_ECAP_IRO_SHIFT)
#define VTD_ECAP_MHMV_SHIFT     20

/* ---- VER_REG ---- */
#define VTD_VER_1_0             0x10                   /* major 7:4, minor 3:0 */

/* ---- GCMD_REG / GSTS_REG (same bit positions) ---- */
#define VTD_GCMD_TE             (1u << 31)             /* GSTS.TES */
#define VTD_GCMD_SRTP           (1u << 30)             /* GSTS.RTPS */
#define VTD_GCMD_SFL            (1u << 29)             /* GSTS.FLS */
#define VTD_GCMD_EAFL           (1u << 28)             /* GSTS.AFLS */
#define VTD_GCMD_WBF            (1u << 27)             /* GSTS.WBFS */
#define VTD_GCMD_QIE            (1u << 26)             /* GSTS.QIES */
#define VTD_GCMD_IRE            (1u << 25)             /* GSTS.IRES */
#define VTD_GCMD_SIRTP          (1u << 24)             /* GSTS.IRTPS */
#define VTD_GCMD_CFI            (1u << 23)             /* GSTS.CFIS */
/* Commands whose status bit stays as long as the feature is on; the
 * others are one-shot (software masks their status bits off, 0x96ffffff,
 * before writing the status image back with one bit changed). */
#define VTD_GCMD_PERSISTENT     (VTD_GCMD_TE | VTD_GCMD_QIE | VTD_GCMD_IRE | VTD_GCMD_CFI)
#define VTD_GSTS_TES            VTD_GCMD_TE
#define VTD_GSTS_RTPS           VTD_GCMD_SRTP
#define VTD_GSTS_QIES           VTD_GCMD_QIE
#define VTD_GSTS_IRES           VTD_GCMD_IRE
#define VTD_GSTS_IRTPS          VTD_GCMD_SIRTP
#define VTD_GSTS_CFIS           VTD_GCMD_CFI

/* ---- RTADDR_REG ---- */
#define VTD_RTADDR_RTA_MASK     VTD_PAGE_MASK
#define VTD_RTADDR_TTM_SHIFT    10
#define VTD_RTADDR_TTM_MASK     (3ull << VTD_RTADDR_TTM_SHIFT)  /* 00: legacy */
#define VTD_RTADDR_WMASK        (VTD_RTADDR_RTA_MASK | VTD_RTADDR_TTM_MASK)

/* ---- CCMD_REG ---- */
#define VTD_CCMD_DID_MASK       0xffffull
#define VTD_CCMD_SID_SHIFT      16
#define VTD_CCMD_FM_SHIFT       32
#define VTD_CCMD_CAIG_SHIFT     59                     /* actual granularity (RO) */
#define VTD_CCMD_CIRG_SHIFT     61                     /* requested granularity */
#define VTD_CCMD_ICC            (1ull << 63)
#define VTD_CCMD_WMASK          0xe0000003ffffffffull  /* ICC, CIRG, FM, SID, DID */
enum vtd_cc_gran {              /* CIRG/CAIG; the context descriptor's G */
	VTD_CC_GLOBAL = 1, VTD_CC_DOMAIN = 2, VTD_CC_DEVICE = 3,
};

/* ---- IOTLB_REG / IVA_REG ---- */
#define VTD_IOTLB_DID_SHIFT     32
#define VTD_IOTLB_DW            (1ull << 48)
#define VTD_IOTLB_DR            (1ull << 49)
#define VTD_IOTLB_IAIG_SHIFT    57                     /* actual granularity (RO) */
#define VTD_IOTLB_IIRG_SHIFT    60                     /* requested granularity */
#define VTD_IOTLB_IVT           (1ull << 63)
#define VTD_IOTLB_WMASK         0xb003ffff00000000ull  /* IVT, IIRG, DR, DW, DID */
#define VTD_IVA_AM_MASK         0x3full
#define VTD_IVA_IH              (1ull << 6)
#define VTD_IVA_WMASK           (VTD_PAGE_MASK | VTD_IVA_IH | VTD_IVA_AM_MASK)
enum vtd_iotlb_gran {           /* IIRG/IAIG; the IOTLB descriptor's G */
	VTD_IOTLB_GLOBAL = 1, VTD_IOTLB_DOMAIN = 2, VTD_IOTLB_PAGE = 3,
};

/* ---- FSTS_REG / FECTL_REG and the event registers ---- */
#define VTD_FSTS_PFO            (1u << 0)              /* RW1C */
#define VTD_FSTS_PPF            (1u << 1)              /* RO: any FRCD.F set */
#define VTD_FSTS_IQE            (1u << 4)              /* RW1C */
#define VTD_FSTS_ICE            (1u << 5)              /* RW1C (device-TLB only) */
#define VTD_FSTS_ITE            (1u << 6)              /* RW1C (device-TLB only) */
#define VTD_FSTS_FRI_SHIFT      8
#define VTD_FSTS_RW1C           (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)
#define VTD_EVCTL_IM            (1u << 31)             /* FECTL / IECTL: interrupt mask */
#define VTD_EVCTL_IP            (1u << 30)             /* interrupt pending (RO) */
#define VTD_EVDATA_WMASK        0xffffu                /* FEDATA / IEDATA: IMD */
#define VTD_EVADDR_WMASK        0xfffffffcu            /* FEADDR / IEADDR: MA */
#define VTD_ICS_IWC             (1u << 0)              /* RW1C */
#define VTD_FRCD_LO_FI_INTR_SHIFT 48                   /* interrupt index (IR faults) */

/* ---- Invalidation queue ---- */
#define VTD_IQ_QT_MASK          0x7fff0ull             /* IQH.QH / IQT.QT: bits 18:4 */
#define VTD_IQA_QS_MASK         7ull                   /* 2^QS 4 KiB pages */
#define VTD_IQA_DW              (1ull << 11)           /* 256-bit descriptors (scalable mode) */
#define VTD_IQA_WMASK           (VTD_PAGE_MASK | VTD_IQA_DW | VTD_IQA_QS_MASK)
#define VTD_QI_DESC_SIZE        16                     /* 128-bit descriptors */
enum vtd_iqei {                 /* IQERCD.IQEI: why FSTS.IQE was set */
	VTD_IQEI_NONE = 0, VTD_IQEI_TAIL = 1, VTD_IQEI_FETCH = 2, VTD_IQEI_TYPE = 3,
	VTD_IQEI_RSVD = 4, VTD_IQEI_WIDTH = 5, VTD_IQEI_TAIL_ALIGN = 6, VTD_IQEI_TTM = 7,
};

/* Descriptor types: bits 3:0 of the low qword, plus bits 11:9 as type[6:4]. */
#define VTD_QI_TYPE(lo)         ((unsigned)(((lo) & 0xf) | (((lo) >> 5) & 0x70)))
enum vtd_qi_type {
	VTD_QI_CC = 1, VTD_QI_IOTLB = 2, VTD_QI_DEV_TLB = 3, VTD_QI_IEC = 4, VTD_QI_WAIT = 5,
	VTD_QI_PASID_IOTLB = 6, VTD_QI_PASID_CACHE = 7, VTD_QI_PASID_DEV_TLB = 8,
};
#define VTD_QI_G_SHIFT          4
/* context-cache invalidate: G 5:4, DID 31:16, SID 47:32, FM 49:48 */
#define VTD_QI_CC_DID_SHIFT     16
#define VTD_QI_CC_SID_SHIFT     32
#define VTD_QI_CC_FM_SHIFT      48
#define VTD_QI_CC_RSVD_LO       0xfffc00000000f1c0ull
/* IOTLB invalidate: G 5:4, DW 6, DR 7, DID 31:16; hi: AM 5:0, IH 6, ADDR 63:12 */
#define VTD_QI_IOTLB_DW         (1ull << 6)
#define VTD_QI_IOTLB_DR         (1ull << 7)
#define VTD_QI_IOTLB_DID_SHIFT  16
#define VTD_QI_IOTLB_RSVD_LO    0xffffffff0000f100ull
#define VTD_QI_IOTLB_RSVD_HI    0xf80ull
/* interrupt entry cache invalidate: G bit 4 (1: index-selective), IM 31:27, IIDX 47:32 */
#define VTD_QI_IEC_INDEX        (1ull << 4)
#define VTD_QI_IEC_IM_SHIFT     27
#define VTD_QI_IEC_IIDX_SHIFT   32
#define VTD_QI_IEC_RSVD_LO      0xffff000007fff1e0ull
/* invalidation wait: IF 4, SW 5, FN 6, PD 7 (reserved: ECAP.PDS = 0), status data
 * 63:32; hi: status address 63:2 */
#define VTD_QI_WAIT_IF          (1ull << 4)
#define VTD_QI_WAIT_SW          (1ull << 5)
#define VTD_QI_WAIT_FN          (1ull << 6)
#define VTD_QI_WAIT_SDATA_SHIFT 32
#define VTD_QI_WAIT_RSVD_LO     0x00000000fffff180ull
#define VTD_QI_WAIT_RSVD_HI     0x3ull

/* ---- Interrupt remapping ---- */
#define VTD_IRTA_S_MASK         0xfull                 /* 2^(S+1) entries */
#define VTD_IRTA_EIME           (1ull << 11)           /* x2APIC mode (needs ECAP.EIM) */
#define VTD_IRTA_WMASK          (VTD_PAGE_MASK | VTD_IRTA_S_MASK)
#define VTD_IRTE_SIZE           16
/* IRTE low qword (remapped format) */
#define VTD_IRTE_P              (1ull << 0)
#define VTD_IRTE_FPD            (1ull << 1)
#define VTD_IRTE_DM             (1ull << 2)            /* destination mode: 1 logical */
#define VTD_IRTE_RH             (1ull << 3)            /* redirection hint */
#define VTD_IRTE_TM             (1ull << 4)            /* trigger mode: 1 level */
#define VTD_IRTE_DLM_SHIFT      5                      /* delivery mode 7:5 */
#define VTD_IRTE_AVAIL_SHIFT    8                      /* 11:8, software's */
#define VTD_IRTE_IM             (1ull << 15)           /* 1: posted format */
#define VTD_IRTE_V_SHIFT        16                     /* vector 23:16 */
#define VTD_IRTE_DST_XAPIC_SHIFT 40                    /* 8-bit APIC id in 47:40 (EIME = 0) */
#define VTD_IRTE_RSVD_LO_XAPIC  0xffff00ffff007000ull  /* 14:12, 31:24, 39:32, 63:48 */
/* IRTE high qword */
#define VTD_IRTE_SID_MASK       0xffffull
#define VTD_IRTE_SQ_SHIFT       16                     /* 17:16 */
#define VTD_IRTE_SVT_SHIFT      18                     /* 19:18 */
#define VTD_IRTE_RSVD_HI        0xfffffffffff00000ull  /* 127:84 */
enum vtd_irte_svt {
	VTD_SVT_NONE = 0, VTD_SVT_SID = 1, VTD_SVT_BUS = 2, VTD_SVT_RESERVED = 3,
};

/* Interrupt messages: a DWORD write to 0xFEEx_xxxx. */
#define VTD_MSI_ADDR_BASE       0xfee00000ull
#define VTD_MSI_ADDR_MASK       0xfff00000ull
#define VTD_MSI_ADDR_IRF        (1ull << 4)            /* 1: remappable format */
#define VTD_MSI_ADDR_SHV        (1ull << 3)            /* subhandle valid */
#define VTD_MSI_ADDR_HANDLE15   (1ull << 2)            /* handle[15] */
#define VTD_MSI_ADDR_HANDLE_SHIFT 5                    /* handle[14:0] in 19:5 */
#define VTD_MSI_ADDR_DEST_SHIFT 12                     /* compatibility: APIC id 19:12 */
#define VTD_MSI_ADDR_RH         (1ull << 3)
#define VTD_MSI_ADDR_DM         (1ull << 2)
#define VTD_MSI_DATA_DLM_SHIFT  8
#define VTD_MSI_DATA_LEVEL      (1u << 14)             /* assert */
#define VTD_MSI_DATA_TM         (1u << 15)
#define VTD_MSI_DATA_RSVD_RF    0xffff0000u            /* reserved in remappable format */

/* Interrupt-remapping fault reasons (recorded like DMA faults; FRCD.FI
 * carries the interrupt index). */
enum vtd_ir_fault_reason {
	VTD_FR_IR_REQ_RSVD   = 0x20,   /* reserved field set in the interrupt request */
	VTD_FR_IR_INDEX_OVER = 0x21,   /* interrupt index beyond the table (IRTA.S) */
	VTD_FR_IR_ENTRY_P    = 0x22,   /* IRTE not present (qualified by FPD) */
	VTD_FR_IR_ROOT_INV   = 0x23,   /* the IRTE could not be read */
	VTD_FR_IR_IRTE_RSVD  = 0x24,   /* reserved field in a present IRTE (qualified) */
	VTD_FR_IR_REQ_COMPAT = 0x25,   /* compatibility format blocked (CFIS = 0 or EIME = 1) */
	VTD_FR_IR_SID_ERR    = 0x26,   /* source-id check by SVT/SQ failed (qualified) */
	VTD_FR_IR_PID_INV    = 0x27,   /* posted-interrupt descriptor access failed */
	VTD_FR_IR_FIRST = VTD_FR_IR_REQ_RSVD, VTD_FR_IR_LAST = VTD_FR_IR_PID_INV,
};

/* Names for interrupt-remapping reasons; others as vtd_fault_reason_str(). */
const char *vtd_ir_fault_reason_str(unsigned reason);

#endif
