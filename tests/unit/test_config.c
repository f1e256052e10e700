#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmm/config.h"

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("256M", &v), 0);
	assert_int_equal(v, 256ull << 20);
	assert_int_equal(config_parse_size("1G", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(config_parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(config_parse_size("64k", &v), 0);
	assert_int_equal(v, 64ull << 10);
	assert_int_equal(config_parse_size("0x1000", &v), 0);
	assert_int_equal(v, 0x1000);
	assert_int_equal(config_parse_size("", &v), -EINVAL);
	assert_int_equal(config_parse_size("-1G", &v), -EINVAL);
	assert_int_equal(config_parse_size("12Q", &v), -EINVAL);
	assert_int_equal(config_parse_size("1GG", &v), -EINVAL);
	assert_int_equal(config_parse_size("M", &v), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -EINVAL);
	assert_int_equal(config_parse_size("20000000T", &v), -EINVAL);   /* overflows */
	assert_int_equal(config_parse_size(NULL, &v), -EINVAL);
}

static int parse(struct vm_config *c, int argc, char **argv)
{
	return config_parse_run(c, argc, argv);
}

static void test_run_options(void **state)
{
	struct vm_config c;
	char *ok[] = { "run", "--mem", "512M", "--cpus", "4", "--host-mem", "2G", "--serial", "/tmp/x",
		       "--cmdline", "a b", "--initrd", "rd", "--stats", "k.elf" };
	char *defaults[] = { "run", "k.elf" };
	char *help[] = { "run", "--help" };

	(void)state;
	assert_int_equal(parse(&c, 15, ok), 0);
	assert_int_equal(c.mem_size, 512ull << 20);
	assert_int_equal(c.cpus, 4);
	assert_int_equal(c.host_mem, 2ull << 30);
	assert_string_equal(c.serial_path, "/tmp/x");
	assert_string_equal(c.cmdline, "a b");
	assert_string_equal(c.initrd_path, "rd");
	assert_true(c.stats);
	assert_string_equal(c.kernel_path, "k.elf");
	assert_int_equal(config_host_mem(&c), 2ull << 30);
	assert_int_equal(parse(&c, 2, defaults), 0);
	assert_int_equal(c.mem_size, CONFIG_DEFAULT_MEM);
	assert_int_equal(c.cpus, 1);
	assert_string_equal(c.kvm_path, "/dev/kvm");
	assert_int_equal(config_host_mem(&c), 512ull << 20);
	c.mem_size = 4ull << 30;
	assert_int_equal(config_host_mem(&c), (4ull << 30) + CONFIG_DEFAULT_PRIVATE);
	assert_int_equal(parse(&c, 2, help), 1);
}

static void test_run_errors(void **state)
{
	struct vm_config c;
	char *nokernel[] = { "run", "--stats" };
	char *two[] = { "run", "a", "b" };
	char *cpus0[] = { "run", "--cpus", "0", "k" };
	char *cpusx[] = { "run", "--cpus", "2x", "k" };
	char *cpusbig[] = { "run", "--cpus", "1000", "k" };
	char *memodd[] = { "run", "--mem", "4097", "k" };
	char *memsmall[] = { "run", "--mem", "1M", "k" };
	char *unknown[] = { "run", "--frob", "k" };
	char *missing[] = { "run", "k", "--mem" };

	(void)state;
	assert_int_equal(parse(&c, 2, nokernel), -EINVAL);
	assert_int_equal(parse(&c, 3, two), -EINVAL);
	assert_int_equal(parse(&c, 4, cpus0), -EINVAL);
	assert_int_equal(parse(&c, 4, cpusx), -EINVAL);
	assert_int_equal(parse(&c, 4, cpusbig), -EINVAL);
	assert_int_equal(parse(&c, 4, memodd), -EINVAL);
	assert_int_equal(parse(&c, 4, memsmall), -EINVAL);
	assert_int_equal(parse(&c, 3, unknown), -EINVAL);
	assert_int_equal(parse(&c, 3, missing), -EINVAL);
}

static void test_disk_specs(void **state)
{
	struct disk_config d;
	struct vm_config c;
	char *two[] = { "run", "--disk", "path=/tmp/a.img,mode=passthrough", "--disk",
			"path=ram:64M,type=nvme,readonly=on,serial=S1,queues=8", "k" };
	char *nine[] = { "run", "--disk", "path=ram:1M", "--disk", "path=ram:1M", "--disk",
			 "path=ram:1M", "--disk", "path=ram:1M", "--disk", "path=ram:1M", "--disk",
			 "path=ram:1M", "--disk", "path=ram:1M", "--disk", "path=ram:1M", "--disk",
			 "path=ram:1M", "k" };

	(void)state;
	assert_int_equal(config_parse_disk("path=/x.img", &d, 3), 0);
	assert_string_equal(d.path, "/x.img");
	assert_int_equal(d.mode, DISK_MODE_EMULATED);
	assert_int_equal(d.type, DISK_TYPE_NVME);
	assert_int_equal(d.queues, CONFIG_DEFAULT_QUEUES);
	assert_string_equal(d.serial, "WARDEN0003");
	assert_false(d.read_only);
	assert_int_equal(config_parse_disk("path=ram:2G,mode=passthrough,readonly=off", &d, 0), 0);
	assert_int_equal(d.ram_size, 2ull << 30);
	assert_int_equal(d.path[0], 0);
	assert_int_equal(d.mode, DISK_MODE_PASSTHROUGH);
	/* Every malformed spec is refused. */
	assert_int_equal(config_parse_disk("", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("mode=emulated", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=ram:", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=ram:12Q", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,type=virtio-blk", &d, 0), 0);
	assert_int_equal(d.type, DISK_TYPE_VIRTIO_BLK);
	assert_int_equal(config_parse_disk("path=a,type=virtio-blk,mode=passthrough", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,type=virtio-scsi", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,type=virtio-blk,queues=16", &d, 0), 0);
	assert_int_equal(config_parse_disk("path=a,type=virtio-blk,queues=17", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,mode=fast", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,readonly=maybe", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,serial=012345678901234567890", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,queues=0", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,queues=65", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,bogus=1", &d, 0), -EINVAL);
	assert_int_equal(config_parse_disk("path=a,noequals", &d, 0), -EINVAL);
	assert_int_equal(config_parse_run(&c, 6, two), 0);
	assert_int_equal(c.nr_disks, 2);
	assert_string_equal(c.disks[0].path, "/tmp/a.img");
	assert_int_equal(c.disks[0].mode, DISK_MODE_PASSTHROUGH);
	assert_int_equal(c.disks[1].ram_size, 64ull << 20);
	assert_true(c.disks[1].read_only);
	assert_string_equal(c.disks[1].serial, "S1");
	assert_int_equal(c.disks[1].queues, 8);
	assert_int_equal(config_parse_run(&c, 20, nine), -EINVAL);
}

static void test_devices(void **state)
{
	struct vm_config c;
	char *two[] = { "run", "--device", "edu", "--device", "edu", "k" };
	char *bad[] = { "run", "--device", "gpu", "k" };

	(void)state;
	assert_int_equal(config_parse_run(&c, 6, two), 0);
	assert_int_equal(c.nr_devices, 2);
	assert_int_equal(c.devices[1], DEVICE_EDU);
	assert_int_equal(config_parse_run(&c, 4, bad), -EINVAL);
}


static void test_several_vms(void **state)
{
	struct run_config *rc = calloc(1, sizeof(*rc));
	char *three[] = { "run", "--mem", "512M", "--stats", "a.elf", "--vm", "--cpus", "2",
			  "--serial", "s1", "--after", "0", "-v", "b.elf", "--vm", "--viommu",
			  "mode=shadow", "c.elf", "--host-mem", "2G" };
	char *after_kernel[] = { "run", "a.elf", "--mem", "1G", "--vm", "b.elf", "--cpus", "3" };
	char *one[] = { "run", "--disk", "path=ram:8M,mode=passthrough", "k.elf" };
	struct vm_config c;

	(void)state;
	assert_non_null(rc);
	assert_int_equal(config_parse_vms(rc, 20, three), 0);
	assert_int_equal(rc->nr_vms, 3);
	assert_string_equal(rc->vms[0].kernel_path, "a.elf");
	assert_int_equal(rc->vms[0].mem_size, 512ull << 20);
	assert_int_equal(rc->vms[0].after, -1);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_OFF);
	assert_string_equal(rc->vms[1].kernel_path, "b.elf");
	assert_int_equal(rc->vms[1].mem_size, CONFIG_DEFAULT_MEM);   /* not vm0's */
	assert_int_equal(rc->vms[1].cpus, 2);
	assert_string_equal(rc->vms[1].serial_path, "s1");
	assert_int_equal(rc->vms[1].after, 0);
	assert_string_equal(rc->vms[2].kernel_path, "c.elf");
	assert_int_equal(rc->vms[2].viommu, VM_VIOMMU_SHADOW);
	assert_null(rc->vms[2].serial_path);
	/* Process-wide options, wherever given, hold for every VM. */
	for (unsigned i = 0; i < 3; i++) {
		assert_true(rc->vms[i].stats);
		assert_true(rc->vms[i].verbose);
		assert_int_equal(rc->vms[i].host_mem, 2ull << 30);
		assert_string_equal(rc->vms[i].kvm_path, "/dev/kvm");
	}
	assert_int_equal(config_run_host_mem(rc), 2ull << 30);

	/* A group's options may follow its KERNEL, as they always could. */
	assert_int_equal(config_parse_vms(rc, 8, after_kernel), 0);
	assert_int_equal(rc->nr_vms, 2);
	assert_int_equal(rc->vms[0].mem_size, 1ull << 30);
	assert_int_equal(rc->vms[1].cpus, 3);
	assert_int_equal(rc->vms[0].cpus, 1);
	/* Default arena: every VM's RAM (2 MiB carving unit) + private. */
	assert_int_equal(config_run_host_mem(rc), (1ull << 30) + CONFIG_DEFAULT_MEM +
			 CONFIG_DEFAULT_PRIVATE);
	rc->vms[1].mem_size = (3ull << 20) + 4096;
	assert_int_equal(config_run_host_mem(rc), (1ull << 30) + (4ull << 20) +
			 CONFIG_DEFAULT_PRIVATE);
	rc->vms[0].mem_size = 16ull << 20;
	assert_int_equal(config_run_host_mem(rc), 512ull << 20);

	/* One VM: the same as the one-VM parser. */
	assert_int_equal(config_parse_vms(rc, 4, one), 0);
	assert_int_equal(rc->nr_vms, 1);
	assert_int_equal(rc->vms[0].disks[0].mode, DISK_MODE_PASSTHROUGH);
	assert_int_equal(config_parse_run(&c, 4, one), 0);
	assert_int_equal(config_host_mem(&c), config_run_host_mem(rc));
	assert_int_equal(config_parse_run(&c, 8, after_kernel), -EINVAL);
	free(rc);
}

static void test_viommu(void **state)
{
	struct run_config *rc = calloc(1, sizeof(*rc));
	enum vm_viommu v;
	char *bare[] = { "run", "--viommu", "k.elf" };
	char *bare_last[] = { "run", "k.elf", "--viommu" };
	char *sep[] = { "run", "--viommu", "mode=nested", "k.elf" };
	char *attached[] = { "run", "--viommu=mode=shadow", "k.elf" };
	char *second[] = { "run", "a", "--vm", "--viommu", "b" };
	char *badmode[] = { "run", "--viommu", "mode=fast", "k.elf" };
	char *badkey[] = { "run", "--viommu", "pages=4k", "k.elf" };
	char *empty[] = { "run", "--viommu=", "k.elf" };
	char *emptymode[] = { "run", "--viommu", "mode=", "k.elf" };

	(void)state;
	assert_non_null(rc);
	assert_int_equal(config_parse_viommu(NULL, &v), 0);
	assert_int_equal(v, VM_VIOMMU_NESTED);
	assert_int_equal(config_parse_viommu("mode=shadow", &v), 0);
	assert_int_equal(v, VM_VIOMMU_SHADOW);
	assert_int_equal(config_parse_viommu("mode=nested", &v), 0);
	assert_int_equal(v, VM_VIOMMU_NESTED);
	assert_int_equal(config_parse_viommu("mode=off", &v), -EINVAL);
	assert_int_equal(config_parse_viommu("", &v), -EINVAL);

	assert_int_equal(config_parse_vms(rc, 3, bare), 0);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_NESTED);
	assert_string_equal(rc->vms[0].kernel_path, "k.elf");
	assert_int_equal(config_parse_vms(rc, 3, bare_last), 0);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_NESTED);
	assert_int_equal(config_parse_vms(rc, 4, sep), 0);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_NESTED);
	assert_string_equal(rc->vms[0].kernel_path, "k.elf");
	assert_int_equal(config_parse_vms(rc, 3, attached), 0);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_SHADOW);
	assert_int_equal(config_parse_vms(rc, 5, second), 0);
	assert_int_equal(rc->vms[0].viommu, VM_VIOMMU_OFF);
	assert_int_equal(rc->vms[1].viommu, VM_VIOMMU_NESTED);
	assert_int_equal(config_parse_vms(rc, 4, badmode), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 4, badkey), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 3, empty), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 4, emptymode), -EINVAL);
	free(rc);
}

static void test_vm_errors(void **state)
{
	struct run_config *rc = calloc(1, sizeof(*rc));
	char *empty_first[] = { "run", "--vm", "a" };
	char *trailing[] = { "run", "a", "--vm" };
	char *empty_mid[] = { "run", "a", "--vm", "--vm", "b" };
	char *no_kernel[] = { "run", "a", "--vm", "--mem", "1G" };
	char *two_kernels[] = { "run", "a", "--vm", "b", "c" };
	char *after_self[] = { "run", "a", "--vm", "--after", "1", "b" };
	char *after_later[] = { "run", "a", "--vm", "--after", "2", "b", "--vm", "c" };
	char *after_first[] = { "run", "--after", "0", "a" };
	char *after_bad[] = { "run", "a", "--vm", "--after", "x", "b" };
	char *after_neg[] = { "run", "a", "--vm", "--after", "-1", "b" };
	char *same_serial[] = { "run", "--serial", "f", "a", "--vm", "--serial", "f", "b" };
	char *bad_in_second[] = { "run", "a", "--vm", "--cpus", "0", "b" };
	char *eight[18], *nine[20];
	char *ok_after[] = { "run", "a", "--vm", "b", "--vm", "--after", "1", "c" };

	(void)state;
	assert_non_null(rc);
	assert_int_equal(config_parse_vms(rc, 3, empty_first), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 3, trailing), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 5, empty_mid), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 5, no_kernel), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 5, two_kernels), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 6, after_self), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 8, after_later), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 4, after_first), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 6, after_bad), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 6, after_neg), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 8, same_serial), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 6, bad_in_second), -EINVAL);
	assert_int_equal(config_parse_vms(rc, 8, ok_after), 0);
	assert_int_equal(rc->vms[2].after, 1);

	/* Eight VMs is the limit; a ninth is refused. */
	eight[0] = nine[0] = "run";
	for (unsigned i = 0; i < 9; i++) {
		if (i < 8) {
			eight[1 + 2 * i] = i ? "--vm" : "--stats";
			eight[2 + 2 * i] = "k.elf";
		}
		nine[1 + 2 * i] = i ? "--vm" : "--stats";
		nine[2 + 2 * i] = "k.elf";
	}
	assert_int_equal(config_parse_vms(rc, 17, eight), 0);
	assert_int_equal(rc->nr_vms, CONFIG_MAX_VMS);
	assert_int_equal(config_parse_vms(rc, 19, nine), -EINVAL);
	free(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_run_options),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_disk_specs),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_several_vms),
		cmocka_unit_test(test_viommu),
		cmocka_unit_test(test_vm_errors),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
