/* Running one or several machines on one host: ordering (--after),
 * consoles, signals, the teardown watchdog and the RAM-unchanged check. */
#include "vmm/vmset.h"
#include "base/log.h"
#include "base/power.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VMSET_TICK_MS 50        /* console flush for output without a newline */

/* ---- teardown watchdog ----
 * Armed while a machine is being stopped and for the final teardown: a
 * device thread gone wrong must not hang the process (a host bug, but never
 * a hang). It is disarmed again while other VMs still run: their run time
 * is not a teardown. Only plain values are used, as the machines may be
 * freed by the time it fires. */
static uint64_t watchdog_deadline_ns;   /* atomic; 0: disarmed */
static int watchdog_status;             /* atomic */
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;

static void *watchdog_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { .tv_nsec = 100 * 1000000 };
		uint64_t deadline;

		nanosleep(&ts, NULL);
		deadline = __atomic_load_n(&watchdog_deadline_ns, __ATOMIC_ACQUIRE);
		if (deadline && machine_now_ns() >= deadline) {
			int status = __atomic_load_n(&watchdog_status, __ATOMIC_RELAXED);

			fprintf(stderr, "warden: host error: teardown did not finish within %u ms; "
				"exiting\n", MACHINE_TEARDOWN_TIMEOUT_MS);
			_exit(status ? status : WARDEN_EXIT_HOST);
		}
	}
	return NULL;
}

static void watchdog_start(void)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, watchdog_thread, NULL))
		log_warn("cannot start the teardown watchdog");
	pthread_attr_destroy(&attr);
}

static void watchdog_arm(int status)
{
	pthread_once(&watchdog_once, watchdog_start);
	__atomic_store_n(&watchdog_status, status, __ATOMIC_RELAXED);
	__atomic_store_n(&watchdog_deadline_ns,
			 machine_now_ns() + MACHINE_TEARDOWN_TIMEOUT_MS * 1000000ull, __ATOMIC_RELEASE);
}

static void watchdog_disarm(void)
{
	__atomic_store_n(&watchdog_deadline_ns, 0, __ATOMIC_RELEASE);
}

/* ---- host signals ---- */
static volatile sig_atomic_t host_signal;

static void host_signal_handler(int sig)
{
	host_signal = sig;
}

/* machine.on_stop: wakes the thread that runs the machines. */
static void vmset_on_stop(void *opaque)
{
	struct vmset *s = opaque;

	pthread_mutex_lock(&s->lock);
	s->stop_events++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int vmset_create(struct vmset *s, const struct run_config *rc)
{
	int ret, status;

	memset(s, 0, sizeof(*s));
	s->rc = rc;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (unsigned i = 0; i < CONFIG_MAX_VMS; i++)
		s->mux_source[i] = -1;
	ret = host_init(&s->host, config_run_host_mem(rc), CONFIG_DEFAULT_PRIVATE);
	if (ret < 0)
		return rc->host_mem ? WARDEN_EXIT_USAGE : WARDEN_EXIT_HOST;
	s->host_ready = true;
	for (unsigned i = 0; i < rc->nr_vms; i++) {
		struct machine *m = calloc(1, sizeof(*m));

		if (!m)
			return WARDEN_EXIT_HOST;
		s->vms[i] = m;
		s->nr = i + 1;
		status = machine_create(m, &rc->vms[i], &s->host, i, rc->nr_vms > 1);
		m->on_stop = vmset_on_stop;
		m->on_stop_opaque = s;
		if (status)
			return status;
	}
	return 0;
}

/* With more than one VM on stdout, their lines go through the mux. */
static int vmset_consoles(struct vmset *s)
{
	unsigned on_stdout = 0, sources = 0;
	int ret;

	for (unsigned i = 0; i < s->nr; i++)
		on_stdout += !s->vms[i]->cfg.serial_path;
	if (on_stdout < 2)
		return 0;
	ret = conmux_create(STDOUT_FILENO, &s->mux);
	for (unsigned i = 0; !ret && i < s->nr; i++) {
		char prefix[16];
		int fd;

		if (s->vms[i]->cfg.serial_path)
			continue;
		snprintf(prefix, sizeof(prefix), "[vm%u] ", i);
		fd = conmux_add(s->mux, prefix);
		if (fd < 0) {
			ret = fd;
			break;
		}
		s->vms[i]->console_fd = fd;
		s->mux_source[i] = (int)sources++;
	}
	if (ret < 0) {
		log_error("setting up the consoles: %s", strerror(-ret));
		return WARDEN_EXIT_HOST;
	}
	return 0;
}

int vmset_load(struct vmset *s)
{
	int status;

	/* Every image first: a bad one is refused before /dev/kvm is opened. */
	for (unsigned i = 0; i < s->nr; i++) {
		status = machine_load_kernel(s->vms[i]);
		if (status)
			return status;
	}
	status = vmset_consoles(s);
	for (unsigned i = 0; !status && i < s->nr; i++)
		status = machine_create_vm(s->vms[i]);
	if (!status && s->mux && conmux_start(s->mux) < 0)
		status = WARDEN_EXIT_HOST;
	return status;
}

static bool vmset_live(const struct vmset *s)
{
	for (unsigned i = 0; i < s->nr; i++)
		if (s->state[i] != VMSET_STOPPED)
			return true;
	return false;
}

/* The stop of one VM: vCPUs joined, devices stopped (kept to the end, with
 * its host domain), console drained, RAM hashed; only then may a VM that
 * waits for it start. */
static void vmset_reap(struct vmset *s, unsigned i)
{
	struct machine *m = s->vms[i];
	bool started = m->started;

	watchdog_arm(m->exit_status);
	s->status[i] = machine_stop(m);
	machine_seal_ram(m);
	if (s->mux_source[i] >= 0)
		conmux_drain(s->mux, (unsigned)s->mux_source[i]);
	s->state[i] = VMSET_STOPPED;
	if (s->nr > 1)
		fprintf(stderr, "warden: vm%u stopped: status %d (%s%s)\n", i, s->status[i],
			m->exit_reason ? m->exit_reason : "-", started ? "" : "; never started");
	if (vmset_live(s))
		watchdog_disarm();
}

static void vmset_start(struct vmset *s, unsigned i)
{
	s->state[i] = VMSET_RUNNING;
	/* VM 0's UART is the console: it alone reads stdin. */
	machine_start(s->vms[i], i == 0);
}

/* One pass over the VMs: reap what stopped, start what may start. Returns
 * whether anything changed (a start may fail at once and need a reap). */
static bool vmset_step(struct vmset *s, bool stop_all)
{
	bool changed = false;

	for (unsigned i = 0; i < s->nr; i++) {
		struct machine *m = s->vms[i];

		if (stop_all && s->state[i] != VMSET_STOPPED)
			machine_request_exit(m, 128 + host_signal, "host-signal");
		if (s->state[i] == VMSET_RUNNING) {
			machine_tick(m);
			if (machine_stopping(m)) {
				vmset_reap(s, i);
				changed = true;
			}
		} else if (s->state[i] == VMSET_WAITING) {
			int after = m->cfg.after;

			if (machine_stopping(m)) {
				vmset_reap(s, i);
				changed = true;
			} else if (after < 0 || s->state[after] == VMSET_STOPPED) {
				vmset_start(s, i);
				changed = true;
			}
		}
	}
	return changed;
}

void vmset_run(struct vmset *s)
{
	struct sigaction sa = { .sa_handler = host_signal_handler };
	bool signalled = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (unsigned i = 0; i < s->nr; i++)
		s->state[i] = VMSET_WAITING;
	while (vmset_live(s)) {
		bool stop_all = false;
		struct timespec ts;

		if (vmset_step(s, false))
			continue;
		pthread_mutex_lock(&s->lock);
		if (!s->stop_events) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += VMSET_TICK_MS * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		s->stop_events = 0;
		pthread_mutex_unlock(&s->lock);
		if (host_signal && !signalled) {
			signalled = true;
			stop_all = true;
			fprintf(stderr, "warden: stopping on signal %d\n", host_signal);
		}
		vmset_step(s, stop_all);
	}
}

unsigned vmset_check_ram(struct vmset *s, FILE *err)
{
	unsigned changed = 0;

	for (unsigned i = 0; i < s->nr; i++) {
		if (!s->vms[i] || machine_check_ram(s->vms[i]))
			continue;
		fprintf(err, "warden: vm%u RAM changed after it stopped (hash 0x%016llx at stop, "
			"0x%016llx now)\n", i, (unsigned long long)s->vms[i]->ram_hash,
			(unsigned long long)s->vms[i]->ram_hash_now);
		changed++;
	}
	if (changed)
		s->ram_changed = true;
	return changed;
}

void vmset_print_stats(struct vmset *s, FILE *out)
{
	struct arena *a = &s->host.arena;
	uint64_t ram = 0;
	const char *canaries = arena_check_canaries(a) ? "CORRUPTED" : "intact";

	if (s->nr == 1) {
		machine_print_stats(s->vms[0], out, "warden stats:");
		fprintf(out, "  hypervisor canaries  %s\n", canaries);
		return;
	}
	for (unsigned i = 0; i < s->nr; i++) {
		char heading[32];

		snprintf(heading, sizeof(heading), "warden stats: vm%u", i);
		machine_print_stats(s->vms[i], out, heading);
		ram += s->vms[i]->gmem.ram_size;
	}
	fprintf(out, "warden stats: host\n");
	fprintf(out, "  host memory          %llu MiB (%llu MiB hypervisor-private, %llu MiB VM RAM "
		"in %u VMs)\n", (unsigned long long)(a->size >> 20),
		(unsigned long long)(a->private_size >> 20), (unsigned long long)(ram >> 20), s->nr);
	if (s->host.iommu_ready)
		fprintf(out, "  host iommu domains   %u\n", s->host.iommu.nr_domains);
	fprintf(out, "  hypervisor canaries  %s\n", canaries);
}

int vmset_exit_status(const struct vmset *s)
{
	if (s->ram_changed)
		return WARDEN_EXIT_HOST;
	if (s->nr == 1)
		return s->status[0];
	for (unsigned i = 0; i < s->nr; i++)
		if (s->status[i])
			return s->status[i];
	return 0;
}

void vmset_destroy(struct vmset *s)
{
	/* Devices (and each VM's host domain) before the IOMMU and the arena
	 * they use; the consoles' write ends close with their machines, then
	 * the mux drains what is left. */
	for (unsigned i = s->nr; i-- > 0;) {
		if (!s->vms[i])
			continue;
		machine_destroy(s->vms[i]);
		free(s->vms[i]);
		s->vms[i] = NULL;
	}
	conmux_destroy(s->mux);
	s->mux = NULL;
	if (s->host_ready)
		host_destroy(&s->host);
	s->host_ready = false;
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

int vmset_main(const struct run_config *rc)
{
	struct vmset *s = calloc(1, sizeof(*s));
	int status;

	if (!s)
		return WARDEN_EXIT_HOST;
	log_threshold = rc->verbose ? LOG_DEBUG : LOG_WARN;
	status = vmset_create(s, rc);
	if (!status)
		status = vmset_load(s);
	if (!status) {
		vmset_run(s);
		watchdog_arm(vmset_exit_status(s));
		/* Before anything is destroyed: a stopped VM's memory must be as
		 * it left it, whatever ran after. */
		vmset_check_ram(s, stderr);
		if (rc->stats)
			vmset_print_stats(s, stderr);
		if (arena_check_canaries(&s->host.arena))
			fprintf(stderr, "warden: hypervisor-private canaries were overwritten\n");
		status = vmset_exit_status(s);
	}
	vmset_destroy(s);
	free(s);
	return status;
}
