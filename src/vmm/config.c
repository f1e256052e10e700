#include "vmm/config.h"
#include "base/arena.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'B' || *end == 'b') && end[1] == '\0')
		end++;
	if (*end != '\0' || (shift && v > (~0ull >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static bool flag_value(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "false"))
		*out = false;
	else
		return false;
	return true;
}

int config_parse_disk(const char *spec, struct disk_config *d, unsigned index)
{
	char buf[2048], *save = NULL, *tok;
	bool have_path = false;

	memset(d, 0, sizeof(*d));
	d->type = DISK_TYPE_NVME;
	d->mode = DISK_MODE_EMULATED;
	d->queues = CONFIG_DEFAULT_QUEUES;
	snprintf(d->serial, sizeof(d->serial), "WARDEN%04u", index);
	if (strlen(spec) >= sizeof(buf)) {
		fprintf(stderr, "warden: --disk value too long\n");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *key = tok, *val;

		if (!eq) {
			fprintf(stderr, "warden: --disk: '%s' is not key=value (see warden --help)\n", tok);
			return -EINVAL;
		}
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(key, "path")) {
			if (!strncmp(val, "ram:", 4)) {
				if (config_parse_size(val + 4, &d->ram_size) || d->ram_size < 4096) {
					fprintf(stderr, "warden: --disk: invalid RAM disk size '%s'\n", val + 4);
					return -EINVAL;
				}
			} else if (!*val || strlen(val) >= sizeof(d->path)) {
				fprintf(stderr, "warden: --disk: invalid path '%s'\n", val);
				return -EINVAL;
			} else {
				strcpy(d->path, val);
			}
			have_path = true;
		} else if (!strcmp(key, "type")) {
			if (!strcmp(val, "nvme")) {
				d->type = DISK_TYPE_NVME;
			} else if (!strcmp(val, "virtio-blk")) {
				d->type = DISK_TYPE_VIRTIO_BLK;
			} else {
				fprintf(stderr, "warden: --disk: unknown type '%s' (nvme or virtio-blk)\n", val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "mode")) {
			if (!strcmp(val, "emulated")) {
				d->mode = DISK_MODE_EMULATED;
			} else if (!strcmp(val, "passthrough")) {
				d->mode = DISK_MODE_PASSTHROUGH;
			} else {
				fprintf(stderr, "warden: --disk: unknown mode '%s' (emulated or passthrough)\n", val);
				return -EINVAL;
			}
			d->mode_given = true;
		} else if (!strcmp(key, "readonly")) {
			if (!flag_value(val, &d->read_only)) {
				fprintf(stderr, "warden: --disk: readonly takes on or off, not '%s'\n", val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "serial")) {
			if (!*val || strlen(val) >= sizeof(d->serial)) {
				fprintf(stderr, "warden: --disk: serial must be 1 to 20 characters\n");
				return -EINVAL;
			}
			strcpy(d->serial, val);
		} else if (!strcmp(key, "queues")) {
			char *end;
			unsigned long n = strtoul(val, &end, 10);

			if (*end || end == val || n < 1 || n > 64) {
				fprintf(stderr, "warden: --disk: queues must be 1 to 64, not '%s'\n", val);
				return -EINVAL;
			}
			d->queues = (unsigned)n;
		} else {
			fprintf(stderr, "warden: --disk: unknown key '%s' (see warden --help)\n", key);
			return -EINVAL;
		}
	}
	if (!have_path) {
		fprintf(stderr, "warden: --disk needs path=FILE or path=ram:SIZE\n");
		return -EINVAL;
	}
	/* Each virtio queue needs its own ioeventfd window, and a BAR holds 16:
	 * more queues would notify through exits. */
	if (d->type == DISK_TYPE_VIRTIO_BLK && d->queues > 16) {
		fprintf(stderr, "warden: --disk: virtio-blk takes at most 16 queues\n");
		return -EINVAL;
	}
	if (d->type == DISK_TYPE_VIRTIO_BLK && d->mode_given) {
		fprintf(stderr, "warden: --disk: mode= applies to nvme; virtio-blk is paravirtual\n");
		return -EINVAL;
	}
	return 0;
}

void config_usage(FILE *out)
{
	fprintf(out,
		"usage: warden run [options] KERNEL [--vm [options] KERNEL]...\n"
		"       warden --help | --version\n"
		"\n"
		"Boots KERNEL (a PVH ELF such as a Linux vmlinux or a Warden test guest, or a\n"
		"multiboot v1 image) in a KVM virtual machine. Each --vm starts the next VM's\n"
		"options (up to %d VMs); all run at once in this process, sharing one host\n"
		"memory arena and one host IOMMU (each VM its own domain).\n"
		"\n"
		"per-VM options:\n"
		"  --mem SIZE        guest RAM (default 256M; suffixes K, M, G)\n"
		"  --cpus N          vCPUs, 1 to %d (default 1)\n"
		"  --serial FILE     write the COM1 console to FILE instead of stdout (with\n"
		"                    several VMs on stdout, each line is prefixed [vmN])\n"
		"  --cmdline STR     kernel command line\n"
		"  --initrd FILE     initial ramdisk, passed as a boot module\n"
		"  --disk SPEC       add a disk (repeatable, up to %d):\n"
		"                      path=FILE|ram:SIZE,type=nvme|virtio-blk\n"
		"                      [,mode=emulated|passthrough] (nvme only)\n"
		"                      [,readonly=on][,serial=S][,queues=N]\n"
		"                    emulated: every register access traps to the VMM, which\n"
		"                    runs commands on the vCPU thread; passthrough: the\n"
		"                    controller runs on its own thread behind an IOMMU domain\n"
		"                    holding exactly the VM's RAM, doorbells and interrupts\n"
		"                    without userspace exits; virtio-blk: paravirtual, an I/O\n"
		"                    thread fed by ioeventfd, interrupts by irqfd\n"
		"  --device edu      add a QEMU-compatible edu DMA test device (repeatable, up to %d)\n"
		"  --viommu [mode=nested|shadow]\n"
		"                    give the guest a VT-d IOMMU (default mode: nested)\n"
		"  --after N         start this VM only once VM N (an earlier one) has stopped\n"
		"\n"
		"process-wide options (in any group, for all VMs):\n"
		"  --host-mem SIZE   size of the host-memory arena that stands for host RAM\n"
		"                    (default: the VMs' RAM + 64M hypervisor-private, at least 512M)\n"
		"  --stats           print exit counters and timings to stderr at exit\n"
		"  -v, --verbose     more log output\n"
		"\n"
		"exit status: the guest's debug-exit code ((v << 1) | 1, as QEMU's\n"
		"isa-debug-exit), 0 on clean power-off, 1 guest crash, 2 usage or load\n"
		"error, 3 host error (e.g. no /dev/kvm, or a stopped VM's RAM changed);\n"
		"with several VMs, the first non-zero status in VM order, else 0\n",
		CONFIG_MAX_VMS, CONFIG_MAX_VCPUS, CONFIG_MAX_DISKS, CONFIG_MAX_DEVICES);
}

static int bad(const char *tag, const char *what, const char *val)
{
	fprintf(stderr, "warden: %sinvalid %s '%s' (see warden --help)\n", tag, what, val);
	return -EINVAL;
}

int config_parse_viommu(const char *spec, enum vm_viommu *out)
{
	char buf[256], *save = NULL, *tok;

	*out = VM_VIOMMU_NESTED;
	if (!spec)
		return 0;
	if (!*spec || strlen(spec) >= sizeof(buf)) {
		fprintf(stderr, "warden: invalid --viommu '%s' (mode=nested or mode=shadow)\n", spec);
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "mode=nested")) {
			*out = VM_VIOMMU_NESTED;
		} else if (!strcmp(tok, "mode=shadow")) {
			*out = VM_VIOMMU_SHADOW;
		} else if (!strncmp(tok, "mode=", 5)) {
			fprintf(stderr, "warden: --viommu: unknown mode '%s' (nested or shadow)\n", tok + 5);
			return -EINVAL;
		} else {
			fprintf(stderr, "warden: --viommu: unknown setting '%s' (mode=nested or "
				"mode=shadow)\n", tok);
			return -EINVAL;
		}
	}
	return 0;
}

static void vm_defaults(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_size = CONFIG_DEFAULT_MEM;
	c->cpus = 1;
	c->after = -1;
}

/* Messages name the VM ("vm1: ") only when there are several. */
struct parse_state {
	struct run_config *rc;
	unsigned cur;               /* index of the group being parsed */
	bool any;                   /* the group has an option or a KERNEL */
	bool multi;                 /* the command line has a --vm */
	char tag[16];
};

static void set_group(struct parse_state *ps, unsigned i)
{
	ps->cur = i;
	ps->any = false;
	vm_defaults(&ps->rc->vms[i]);
	if (ps->multi)
		snprintf(ps->tag, sizeof(ps->tag), "vm%u: ", i);
	else
		ps->tag[0] = '\0';
}

static int finish_group(struct parse_state *ps)
{
	struct vm_config *c = &ps->rc->vms[ps->cur];

	if (!ps->any && ps->multi) {
		fprintf(stderr, "warden: %sempty VM group (each VM needs [options] KERNEL; "
			"see warden --help)\n", ps->tag);
		return -EINVAL;
	}
	if (!c->kernel_path) {
		fprintf(stderr, "warden: %sno KERNEL given (see warden --help)\n", ps->tag);
		return -EINVAL;
	}
	/* Two VMs truncating and writing one console file would garble both. */
	for (unsigned i = 0; c->serial_path && i < ps->cur; i++) {
		if (ps->rc->vms[i].serial_path && !strcmp(ps->rc->vms[i].serial_path, c->serial_path)) {
			fprintf(stderr, "warden: %s--serial %s is vm%u's console already\n", ps->tag,
				c->serial_path, i);
			return -EINVAL;
		}
	}
	ps->rc->nr_vms = ps->cur + 1;
	return 0;
}

static int positional(struct parse_state *ps, const char *arg)
{
	ps->any = true;
	if (ps->rc->vms[ps->cur].kernel_path) {
		fprintf(stderr, "warden: %smore than one KERNEL given (see warden --help)\n", ps->tag);
		return -EINVAL;
	}
	ps->rc->vms[ps->cur].kernel_path = arg;
	return 0;
}

static int parse_after(struct parse_state *ps, const char *val)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(val, &end, 10);
	if (errno || *end || end == val || *val == '-' || n >= CONFIG_MAX_VMS)
		return bad(ps->tag, "--after", val);
	if (n >= ps->cur) {
		if (ps->cur == 0)
			fprintf(stderr, "warden: %s--after %lu: vm0 is the first VM; --after names an "
				"earlier one\n", ps->tag, n);
		else
			fprintf(stderr, "warden: %s--after %lu must name an earlier VM (0 to %u)\n",
				ps->tag, n, ps->cur - 1);
		return -EINVAL;
	}
	ps->rc->vms[ps->cur].after = (int)n;
	return 0;
}

int config_parse_vms(struct run_config *rc, int argc, char **argv)
{
	enum { OPT_MEM = 256, OPT_CPUS, OPT_HOSTMEM, OPT_SERIAL, OPT_CMDLINE, OPT_INITRD,
	       OPT_STATS, OPT_KVM, OPT_DISK, OPT_DEVICE, OPT_VM, OPT_AFTER, OPT_VIOMMU };
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "host-mem", required_argument, NULL, OPT_HOSTMEM },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "kvm-device", required_argument, NULL, OPT_KVM },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "vm", no_argument, NULL, OPT_VM },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "viommu", optional_argument, NULL, OPT_VIOMMU },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct parse_state ps = { .rc = rc };
	struct vm_config *cfg;
	int c;

	memset(rc, 0, sizeof(*rc));
	rc->kvm_path = "/dev/kvm";
	/* Only for the wording of messages; the groups come from getopt below. */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--vm"))
			ps.multi = true;
	set_group(&ps, 0);
	optind = 0;             /* glibc: start afresh */
	opterr = 0;
	/* "-": arguments come back in order (a KERNEL as option 1), so each
	 * --vm closes the group before it wherever its KERNEL was written. */
	while ((c = getopt_long(argc, argv, "-:vh", opts, NULL)) != -1) {
		char *end;
		unsigned long n;

		cfg = &rc->vms[ps.cur];
		if (c != OPT_VM)
			ps.any = true;
		switch (c) {
		case 1:
			if (positional(&ps, optarg))
				return -EINVAL;
			break;
		case OPT_VM:
			if (finish_group(&ps))
				return -EINVAL;
			if (ps.cur + 1 == CONFIG_MAX_VMS) {
				fprintf(stderr, "warden: at most %d VMs (one --vm too many)\n", CONFIG_MAX_VMS);
				return -EINVAL;
			}
			set_group(&ps, ps.cur + 1);
			break;
		case OPT_MEM:
			if (config_parse_size(optarg, &cfg->mem_size) || cfg->mem_size < CONFIG_MIN_MEM ||
			    cfg->mem_size % 4096)
				return bad(ps.tag, "--mem (at least 2M, a multiple of 4K)", optarg);
			break;
		case OPT_CPUS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > CONFIG_MAX_VCPUS)
				return bad(ps.tag, "--cpus", optarg);
			cfg->cpus = (unsigned)n;
			break;
		case OPT_HOSTMEM:
			if (config_parse_size(optarg, &rc->host_mem) || rc->host_mem == 0)
				return bad("", "--host-mem", optarg);
			break;
		case OPT_SERIAL: cfg->serial_path = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_INITRD: cfg->initrd_path = optarg; break;
		case OPT_STATS: rc->stats = true; break;
		case OPT_KVM: rc->kvm_path = optarg; break;
		case OPT_DISK:
			if (cfg->nr_disks == CONFIG_MAX_DISKS) {
				fprintf(stderr, "warden: %sat most %d --disk options\n", ps.tag,
					CONFIG_MAX_DISKS);
				return -EINVAL;
			}
			if (config_parse_disk(optarg, &cfg->disks[cfg->nr_disks], cfg->nr_disks))
				return -EINVAL;
			cfg->nr_disks++;
			break;
		case OPT_DEVICE:
			if (strcmp(optarg, "edu"))
				return bad(ps.tag, "--device (supported: edu)", optarg);
			if (cfg->nr_devices == CONFIG_MAX_DEVICES) {
				fprintf(stderr, "warden: %sat most %d --device options\n", ps.tag,
					CONFIG_MAX_DEVICES);
				return -EINVAL;
			}
			cfg->devices[cfg->nr_devices++] = DEVICE_EDU;
			break;
		case OPT_AFTER:
			if (parse_after(&ps, optarg))
				return -EINVAL;
			break;
		case OPT_VIOMMU:
			/* The value is optional and may be a separate word: take the
			 * next word when it is a setting (key=value), not an option or
			 * the KERNEL. */
			if (!optarg && optind < argc && argv[optind][0] != '-' && strchr(argv[optind], '='))
				optarg = argv[optind++];
			if (config_parse_viommu(optarg, &cfg->viommu))
				return -EINVAL;
			break;
		case 'v': rc->verbose = true; break;
		case 'h': return 1;
		case ':':
			fprintf(stderr, "warden: option %s needs a value (see warden --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "warden: unknown option '%s' (see warden --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	/* After "--", everything left is a KERNEL for the last group. */
	for (; optind < argc; optind++)
		if (positional(&ps, argv[optind]))
			return -EINVAL;
	if (finish_group(&ps))
		return -EINVAL;
	for (unsigned i = 0; i < rc->nr_vms; i++) {
		rc->vms[i].host_mem = rc->host_mem;
		rc->vms[i].stats = rc->stats;
		rc->vms[i].verbose = rc->verbose;
		rc->vms[i].kvm_path = rc->kvm_path;
	}
	return 0;
}

int config_parse_run(struct vm_config *cfg, int argc, char **argv)
{
	struct run_config *rc = malloc(sizeof(*rc));
	int ret;

	if (!rc)
		return -ENOMEM;
	ret = config_parse_vms(rc, argc, argv);
	if (ret == 0 && rc->nr_vms != 1) {
		fprintf(stderr, "warden: one VM expected here, not %u\n", rc->nr_vms);
		ret = -EINVAL;
	}
	if (ret == 0)
		*cfg = rc->vms[0];
	free(rc);
	return ret;
}

static uint64_t vm_ram_need(const struct vm_config *cfg)
{
	return (cfg->mem_size + ARENA_VM_ALIGN - 1) & ~(ARENA_VM_ALIGN - 1);
}

static uint64_t host_mem_of(uint64_t ram)
{
	uint64_t need = ram + CONFIG_DEFAULT_PRIVATE;

	return need < (512ull << 20) ? (512ull << 20) : need;
}

uint64_t config_host_mem(const struct vm_config *cfg)
{
	if (cfg->host_mem)
		return cfg->host_mem;
	return host_mem_of(vm_ram_need(cfg));
}

uint64_t config_run_host_mem(const struct run_config *rc)
{
	uint64_t ram = 0;

	if (rc->host_mem)
		return rc->host_mem;
	for (unsigned i = 0; i < rc->nr_vms; i++)
		ram += vm_ram_need(&rc->vms[i]);
	return host_mem_of(ram);
}
