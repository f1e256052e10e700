/* IDT, exception reports, interrupt dispatch, LAPIC and IOAPIC. */
#include "priv.h"

struct idt_gate {
	uint16_t off0;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t off1;
	uint32_t off2;
	uint32_t reserved;
};

#define GATE_INTR_DPL0 0x8e
#define GATE_INTR_DPL3 0xee

static struct idt_gate idt[256] __attribute__((aligned(16)));
struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) rt_idt_ptr = { sizeof(idt) - 1, (uint64_t)idt };

static irq_handler_t handlers[256];

static void set_gate(unsigned vec, const void *fn, unsigned type, unsigned ist)
{
	uint64_t a = (uint64_t)fn;
	struct idt_gate *g = &idt[vec];

	g->off0 = a & 0xffff;
	g->selector = RT_SEL_KCODE64;
	g->ist = ist;
	g->off1 = (a >> 16) & 0xffff;
	g->off2 = a >> 32;
	g->reserved = 0;
	__atomic_store_n(&g->type, type, __ATOMIC_RELEASE);
}

void rt_idt_load(void)
{
	__asm__ volatile("lidt %0" : : "m"(rt_idt_ptr) : "memory");
}

void rt_idt_init(void)
{
	/* Only the 32 exceptions and the runtime's two vectors: an unregistered
	 * vector stays not-present and is reported as #NP naming it, which costs
	 * nothing at boot (ring 0 is slow). */
	for (unsigned v = 0; v < 32; v++)
		set_gate(v, rt_exc_stubs + 16 * v, GATE_INTR_DPL0, (v == 2 || v == 8 || v == 18) ? 1 : 0);
	set_gate(3, rt_bp_stub, GATE_INTR_DPL3, 0);     /* run_in_ring3's way back */
	set_gate(RT_VEC_SPURIOUS, rt_spurious_stub, GATE_INTR_DPL0, 0);
	rt_idt_load();
}

int irq_register(unsigned vector, irq_handler_t fn)
{
	if (vector < 32 || vector > 255 || vector == RT_VEC_SPURIOUS || !fn)
		return -1;
	__atomic_store_n(&handlers[vector], fn, __ATOMIC_RELEASE);
	set_gate(vector, rt_irq_stubs + 16 * (vector - 32), GATE_INTR_DPL0, 0);
	return 0;
}

void rt_irq_dispatch(uint64_t vector)
{
	irq_handler_t h = __atomic_load_n(&handlers[vector & 0xff], __ATOMIC_ACQUIRE);

	if (h)
		h((unsigned)vector);
	lapic_eoi();
}

/* ---- LAPIC (xAPIC MMIO) ---- */
#define LAPIC_ID   0x020
#define LAPIC_TPR  0x080
#define LAPIC_EOI  0x0b0
#define LAPIC_SVR  0x0f0
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define LAPIC_TIMER_DIV_1 0xb

void lapic_enable(void)
{
	mmio_write32(RT_LAPIC_BASE + LAPIC_TPR, 0);
	mmio_write32(RT_LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | RT_VEC_SPURIOUS);
}

void lapic_eoi(void)
{
	mmio_write32(RT_LAPIC_BASE + LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
	return mmio_read32(RT_LAPIC_BASE + LAPIC_ID) >> 24;
}

void lapic_send_ipi(uint32_t apic_id, unsigned vector)
{
	mmio_write32(RT_LAPIC_BASE + LAPIC_ICR_HI, apic_id << 24);
	mmio_write32(RT_LAPIC_BASE + LAPIC_ICR_LO, vector & 0xff);
}

void lapic_timer_oneshot(unsigned vector, uint32_t count)
{
	mmio_write32(RT_LAPIC_BASE + LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_1);
	mmio_write32(RT_LAPIC_BASE + LAPIC_LVT_TIMER, vector & 0xff);
	mmio_write32(RT_LAPIC_BASE + LAPIC_TIMER_INIT, count);
}

/* ---- IOAPIC ---- */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define IOAPIC_MASKED (1u << 16)

static void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(RT_IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(RT_IOAPIC_BASE + IOAPIC_WIN, v);
}

void ioapic_route(unsigned gsi, unsigned vector, unsigned apic_id, bool level, bool active_low)
{
	ioapic_write(IOAPIC_REDTBL(gsi) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDTBL(gsi), vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0));
}

void ioapic_mask(unsigned gsi)
{
	ioapic_write(IOAPIC_REDTBL(gsi), IOAPIC_MASKED);
}

/* ---- exception report ---- */
static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26",
	"reserved 27", "#HV hypervisor injection", "#VC VMM communication",
	"#SX security", "reserved 31",
};

void rt_exception(struct rt_exc_frame *f)
{
	unsigned vec = f->vector & 0xff;
	const char *name = vec < 32 ? exc_names[vec] : "unknown";
	uint64_t cr2 = 0;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	rt_console_panic_begin();
	printf("\n*** EXCEPTION %s (vector %u) on cpu %u in ring %u\n",
	       name, vec, cpu_index(), (unsigned)(f->cs & 3));
	printf("error=0x%lx RIP=0x%016lx CS=0x%lx RFLAGS=0x%lx RSP=0x%016lx SS=0x%lx\n",
	       f->error, f->rip, f->cs, f->rflags, f->rsp, f->ss);
	if (vec == 14)
		printf("CR2=0x%016lx (%s, %s, %s%s)\n", cr2,
		       f->error & 1 ? "protection" : "not present",
		       f->error & 2 ? "write" : "read",
		       f->error & 4 ? "user" : "supervisor",
		       f->error & 16 ? ", instruction fetch" : "");
	if ((vec == 10 || vec == 11 || vec == 12 || vec == 13) && (f->error & 2))
		printf("error code names IDT vector %lu%s\n", f->error >> 3,
		       vec == 11 ? " (not registered: irq_register)" : "");
	printf("RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
	printf("RSI=%016lx RDI=%016lx RBP=%016lx R8 =%016lx\n", f->rsi, f->rdi, f->rbp, f->r8);
	printf("R9 =%016lx R10=%016lx R11=%016lx R12=%016lx\n", f->r9, f->r10, f->r11, f->r12);
	printf("R13=%016lx R14=%016lx R15=%016lx\n", f->r13, f->r14, f->r15);
	uint32_t code = vec < 32 ? RT_EXIT_EXCEPTION_BASE + vec : RT_EXIT_PANIC;
	printf("exiting: guest_exit(0x%x)\n", code);
	guest_exit(code);
}
