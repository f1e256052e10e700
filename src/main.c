/* warden: command-line entry point. */
#include <stdio.h>
#include <string.h>

#include "base/power.h"
#include "vmm/config.h"
#include "vmm/vmset.h"
#include "vmm/attack.h"

#ifndef WARDEN_VERSION
#define WARDEN_VERSION "0.0.0"
#endif

static void usage_top(FILE *out)
{
	fprintf(out,
		"Warden %s: a KVM virtual machine monitor for secure device passthrough\n\n",
		WARDEN_VERSION);
	config_usage(out);
	fprintf(out, "\n       warden attack [--mode nested|shadow] [--only NAME] ...\n"
		"  runs the DMA attack gallery (docs/security.md); `warden attack --help`\n");
}

static int cmd_run(int argc, char **argv)
{
	static struct run_config rc;   /* the VMs keep pointers into it */
	int ret = config_parse_vms(&rc, argc, argv);

	if (ret == 1) {
		config_usage(stdout);
		return 0;
	}
	if (ret < 0)
		return WARDEN_EXIT_USAGE;
	return vmset_main(&rc);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_top(stderr);
		return WARDEN_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage_top(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("warden %s\n", WARDEN_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "attack"))
		return attack_main(argc - 1, argv + 1);
	fprintf(stderr, "warden: unknown command '%s' (see warden --help)\n", argv[1]);
	return WARDEN_EXIT_USAGE;
}
