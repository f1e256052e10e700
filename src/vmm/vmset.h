/* `warden run`: one or several VMs in one process, on one shared host.
 *
 * Lifecycle, in order:
 *   create   the host (arena sized for every VM), each VM's RAM in it;
 *   load     every kernel (a bad image is refused before /dev/kvm is
 *            opened), then each VM's console and KVM VM, devices, vCPUs;
 *   run      every VM without --after starts at once; a VM with --after N
 *            starts once VM N has stopped. A stopped VM's vCPUs are joined
 *            and its devices stopped (but kept, with its host domain, to the
 *            end) and its RAM hashed. SIGINT/SIGTERM stops them all;
 *   check    every stopped VM's RAM is hashed again: any difference means
 *            something reached a VM's memory after it stopped;
 *   stats, destroy (VMs, then the console, then the host). */
#ifndef WARDEN_VMM_VMSET_H
#define WARDEN_VMM_VMSET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "vmm/config.h"
#include "vmm/conmux.h"
#include "vmm/host.h"
#include "vmm/machine.h"

enum vmset_vm_state { VMSET_WAITING, VMSET_RUNNING, VMSET_STOPPED };

struct vmset {
	const struct run_config *rc;
	struct host host;
	bool host_ready;
	struct machine *vms[CONFIG_MAX_VMS];
	unsigned nr;
	enum vmset_vm_state state[CONFIG_MAX_VMS];
	int status[CONFIG_MAX_VMS];
	struct conmux *mux;             /* several VMs on stdout: prefixed lines */
	int mux_source[CONFIG_MAX_VMS]; /* -1: not on the mux */
	bool ram_changed;               /* some stopped VM's RAM changed */

	pthread_mutex_t lock;           /* guards stop_events */
	pthread_cond_t cond;            /* a VM asked to stop */
	unsigned stop_events;
};

/* The whole `warden run`; returns the process exit status. */
int vmset_main(const struct run_config *rc);

/* The steps of vmset_main, apart for tests. Each returns 0 or the exit
 * status to give up with (a message printed). rc must outlive s. */
int vmset_create(struct vmset *s, const struct run_config *rc);
int vmset_load(struct vmset *s);
void vmset_run(struct vmset *s);
/* Hashes every stopped VM's RAM again; one line on err per VM whose RAM
 * changed since it stopped. Returns how many did. */
unsigned vmset_check_ram(struct vmset *s, FILE *err);
void vmset_print_stats(struct vmset *s, FILE *out);
/* One VM: its status. Several: the first non-zero in VM order, else 0. A
 * changed RAM makes it the host-error status either way. */
int vmset_exit_status(const struct vmset *s);
void vmset_destroy(struct vmset *s);

#endif
