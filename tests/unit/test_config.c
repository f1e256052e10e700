#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_run_options),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_disk_specs),
		cmocka_unit_test(test_devices),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
