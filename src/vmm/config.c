#include "vmm/config.h"

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
		"usage: warden run [options] KERNEL\n"
		"       warden --help | --version\n"
		"\n"
		"Boots KERNEL (a PVH ELF such as a Linux vmlinux or a Warden test guest, or a\n"
		"multiboot v1 image) in a KVM virtual machine.\n"
		"\n"
		"options:\n"
		"  --mem SIZE        guest RAM (default 256M; suffixes K, M, G)\n"
		"  --cpus N          vCPUs, 1 to %d (default 1)\n"
		"  --host-mem SIZE   size of the host-memory arena that stands for host RAM\n"
		"                    (default: guest RAM + 64M hypervisor-private, at least 512M)\n"
		"  --serial FILE     write the COM1 console to FILE instead of stdout\n"
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
		"  --stats           print exit counters and timings to stderr at exit\n"
		"  -v, --verbose     more log output\n"
		"\n"
		"exit status: the guest's debug-exit code ((v << 1) | 1, as QEMU's\n"
		"isa-debug-exit), 0 on clean power-off, 1 guest crash, 2 usage or load\n"
		"error, 3 host error (e.g. no /dev/kvm)\n", CONFIG_MAX_VCPUS, CONFIG_MAX_DISKS,
		CONFIG_MAX_DEVICES);
}

static int bad(const char *what, const char *val)
{
	fprintf(stderr, "warden: invalid %s '%s' (see warden --help)\n", what, val);
	return -EINVAL;
}

int config_parse_run(struct vm_config *cfg, int argc, char **argv)
{
	enum { OPT_MEM = 256, OPT_CPUS, OPT_HOSTMEM, OPT_SERIAL, OPT_CMDLINE, OPT_INITRD,
	       OPT_STATS, OPT_KVM, OPT_DISK, OPT_DEVICE };
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
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->kvm_path = "/dev/kvm";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		char *end;
		unsigned long n;

		switch (c) {
		case OPT_MEM:
			if (config_parse_size(optarg, &cfg->mem_size) || cfg->mem_size < CONFIG_MIN_MEM ||
			    cfg->mem_size % 4096)
				return bad("--mem (at least 2M, a multiple of 4K)", optarg);
			break;
		case OPT_CPUS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > CONFIG_MAX_VCPUS)
				return bad("--cpus", optarg);
			cfg->cpus = (unsigned)n;
			break;
		case OPT_HOSTMEM:
			if (config_parse_size(optarg, &cfg->host_mem) || cfg->host_mem == 0)
				return bad("--host-mem", optarg);
			break;
		case OPT_SERIAL: cfg->serial_path = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_INITRD: cfg->initrd_path = optarg; break;
		case OPT_STATS: cfg->stats = true; break;
		case OPT_KVM: cfg->kvm_path = optarg; break;
		case OPT_DISK:
			if (cfg->nr_disks == CONFIG_MAX_DISKS) {
				fprintf(stderr, "warden: at most %d --disk options\n", CONFIG_MAX_DISKS);
				return -EINVAL;
			}
			if (config_parse_disk(optarg, &cfg->disks[cfg->nr_disks], cfg->nr_disks))
				return -EINVAL;
			cfg->nr_disks++;
			break;
		case OPT_DEVICE:
			if (strcmp(optarg, "edu"))
				return bad("--device (supported: edu)", optarg);
			if (cfg->nr_devices == CONFIG_MAX_DEVICES) {
				fprintf(stderr, "warden: at most %d --device options\n", CONFIG_MAX_DEVICES);
				return -EINVAL;
			}
			cfg->devices[cfg->nr_devices++] = DEVICE_EDU;
			break;
		case 'v': cfg->verbose = true; break;
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
	if (optind != argc - 1) {
		fprintf(stderr, "warden: %s (see warden --help)\n",
			optind >= argc ? "no KERNEL given" : "more than one KERNEL given");
		return -EINVAL;
	}
	cfg->kernel_path = argv[optind];
	return 0;
}

uint64_t config_host_mem(const struct vm_config *cfg)
{
	uint64_t need = cfg->mem_size + CONFIG_DEFAULT_PRIVATE;

	if (cfg->host_mem)
		return cfg->host_mem;
	return need < (512ull << 20) ? (512ull << 20) : need;
}
