/* How a device asks the machine to stop (debug-exit port, ACPI power-off,
 * reset) without knowing about vCPUs: the vmm layer implements it. */
#ifndef WARDEN_BASE_POWER_H
#define WARDEN_BASE_POWER_H

/* Exit statuses of `warden run` (the process contract). */
#define WARDEN_EXIT_CLEAN       0   /* clean power-off */
#define WARDEN_EXIT_GUEST_CRASH 1   /* triple fault, emulation failure, ... */
#define WARDEN_EXIT_USAGE       2   /* bad command line or kernel image */
#define WARDEN_EXIT_HOST        3   /* host error: no /dev/kvm, out of memory */

struct power_ctl {
	/* Stop all vCPUs; the process exits with status. The first request wins;
	 * reason is a short static string for logs ("debug-exit", "acpi-s5"). */
	void (*request_exit)(void *opaque, int status, const char *reason);
	void *opaque;
};

static inline void power_request_exit(const struct power_ctl *p, int status, const char *reason)
{
	if (p && p->request_exit)
		p->request_exit(p->opaque, status, reason);
}

#endif
