/*
 * test_acl.c - the source check shared by discovery and the peer server:
 * CIDR blocks parse strictly (a typo is refused, never widened), a list
 * names its bad item and leaves the ACL as it was, the check matches
 * exactly the addresses inside the blocks, and the node's own subnets come
 * from its interfaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "helpers.h"

static struct in_addr ip(const char *text)
{
	struct in_addr addr;

	if (inet_pton(AF_INET, text, &addr) != 1) {
		print_error("bad address in the test: %s\n", text);
		fail();
	}
	return addr;
}

static bool allows(const struct pc_acl *acl, const char *text)
{
	struct in_addr addr = ip(text);

	return pc_acl_allows(acl, &addr);
}

/* Fails at the caller's line unless @text parses to @network/@mask. */
#define assert_cidr(text, network, mask) \
	check_cidr((text), (network), (mask), __FILE__, __LINE__)
static void check_cidr(const char *text, const char *network, const char *mask,
		       const char *file, int line)
{
	struct pc_cidr block;
	int rc = pc_cidr_parse(text, &block);

	if (rc != 0 || block.network.s_addr != ip(network).s_addr ||
	    block.mask.s_addr != ip(mask).s_addr) {
		char got_net[INET_ADDRSTRLEN] = "",
		     got_mask[INET_ADDRSTRLEN] = "";

		inet_ntop(AF_INET, &block.network, got_net, sizeof(got_net));
		inet_ntop(AF_INET, &block.mask, got_mask, sizeof(got_mask));
		print_error("%s:%d: \"%s\": rc %d, %s/%s, want %s/%s\n", file,
			    line, text, rc, got_net, got_mask, network, mask);
		fail();
	}
}

static void test_cidr_parse_accepts_addresses_and_blocks(void **state)
{
	(void)state;
	assert_cidr("10.1.2.3", "10.1.2.3", "255.255.255.255");
	assert_cidr("10.1.2.3/32", "10.1.2.3", "255.255.255.255");
	assert_cidr("192.168.7.0/24", "192.168.7.0", "255.255.255.0");
	assert_cidr("198.18.0.0/15", "198.18.0.0", "255.254.0.0");
	assert_cidr("0.0.0.0/0", "0.0.0.0", "0.0.0.0");
	assert_cidr("172.16.5.4/12", "172.16.0.0", "255.240.0.0");
	assert_cidr("10.0.0.1/1", "0.0.0.0", "128.0.0.0");
	assert_cidr("255.255.255.255/31", "255.255.255.254", "255.255.255.254");
}

static void test_cidr_parse_clears_host_bits(void **state)
{
	(void)state;
	/* "my address with my subnet's length" means the subnet. */
	assert_cidr("192.168.1.17/24", "192.168.1.0", "255.255.255.0");
	assert_cidr("10.200.3.4/8", "10.0.0.0", "255.0.0.0");
	assert_cidr("203.0.113.77/0", "0.0.0.0", "0.0.0.0");
}

static void test_cidr_parse_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"/24",
		"10.1.2",
		"10.1.2.3.4",
		"10.1.2.256",
		"10.1.2.3/",
		"10.1.2.3/33",
		"10.1.2.3/-1",
		"10.1.2.3/+8",
		"10.1.2.3/08",
		"10.1.2.3/ 8",
		"10.1.2.3 /8",
		" 10.1.2.3",
		"10.1.2.3 ",
		"10.1.2.3/8x",
		"10.1.2.3/8/8",
		"10.1.2.3/100",
		"0x0a.1.2.3",
		"010.1.2.3",
		"::1",
		"::ffff:10.1.2.3",
		"localhost",
		"10.1.2.3/24,",
		"10.1.2.3.4.5.6.7.8.9/24",
	};
	struct pc_cidr block;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = pc_cidr_parse(bad[i], &block);

		if (rc != -EINVAL) {
			print_error("\"%s\": rc %d, want -EINVAL\n", bad[i],
				    rc);
			fail();
		}
	}
	assert_int_equal(pc_cidr_parse(NULL, &block), -EINVAL);
}

static void test_acl_parse_appends_comma_and_space_separated(void **state)
{
	struct pc_acl acl = { 0 };
	char err[256] = "";

	(void)state;
	assert_ok(pc_acl_parse(&acl, "10.0.0.0/8", err, sizeof(err)), err);
	assert_ok(pc_acl_parse(&acl,
			       " 192.168.1.0/24,172.16.0.1 ,, 198.18.0.0/15\t",
			       err, sizeof(err)),
		  err);
	assert_int_equal(acl.count, 4);
	assert_ok(pc_acl_parse(&acl, "", err, sizeof(err)), err);
	assert_ok(pc_acl_parse(&acl, NULL, err, sizeof(err)), err);
	/* The same block twice is one block. */
	assert_ok(pc_acl_parse(&acl, "10.9.9.9/8", err, sizeof(err)), err);
	assert_int_equal(acl.count, 4);
	assert_true(allows(&acl, "10.255.0.1"));
	assert_true(allows(&acl, "192.168.1.200"));
	assert_true(allows(&acl, "172.16.0.1"));
	assert_false(allows(&acl, "172.16.0.2"));
	assert_true(allows(&acl, "198.19.255.255"));
	assert_false(allows(&acl, "198.20.0.0"));
}

static void test_acl_parse_names_bad_item_and_keeps_acl(void **state)
{
	struct pc_acl acl = { 0 };
	char err[256] = "";

	(void)state;
	assert_ok(pc_acl_parse(&acl, "10.0.0.0/8", err, sizeof(err)), err);
	assert_error(pc_acl_parse(&acl, "192.168.1.0/24, 192.168.2.0/33", err,
				  sizeof(err)),
		     -EINVAL, err, "\"192.168.2.0/33\"");
	/* The good item before the bad one was not added. */
	assert_int_equal(acl.count, 1);
	assert_false(allows(&acl, "192.168.1.1"));
	assert_error(pc_acl_parse(&acl, "192.168.1.0/24;10.0.0.0/8", err,
				  sizeof(err)),
		     -EINVAL, err, "192.168.1.0/24;10.0.0.0/8");
	/* An absurdly long item is refused, and the message stays short. */
	assert_error(pc_acl_parse(&acl,
				  "1111111111111111111111111111111111111111111"
				  "1111111111111111111111111111111111111111111",
				  err, sizeof(err)),
		     -EINVAL, err, "is not an IPv4 address");
	assert_true(strlen(err) < 128);
	assert_int_equal(acl.count, 1);
}

static void test_acl_parse_refuses_more_than_max(void **state)
{
	struct pc_acl acl = { 0 };
	char list[PC_ACL_MAX * 20 + 32] = "";
	char err[256] = "";
	size_t used = 0;

	(void)state;
	for (int i = 0; i < PC_ACL_MAX; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
					 "10.0.%d.0/24,", i);
	assert_ok(pc_acl_parse(&acl, list, err, sizeof(err)), err);
	assert_int_equal(acl.count, PC_ACL_MAX);
	assert_error(pc_acl_parse(&acl, "10.1.0.0/24", err, sizeof(err)),
		     -E2BIG, err, "10.1.0.0/24");
	assert_int_equal(acl.count, PC_ACL_MAX);
	assert_false(allows(&acl, "10.1.0.1"));
}

static void test_acl_allows_only_addresses_inside_blocks(void **state)
{
	struct pc_acl acl = { 0 };
	char err[256] = "";

	(void)state;
	assert_false(allows(&acl, "10.0.0.1")); /* empty: nobody */
	assert_false(pc_acl_allows(NULL, &(struct in_addr){ 0 }));
	assert_ok(
		pc_acl_parse(&acl, "192.168.7.0/24 10.1.2.3", err, sizeof(err)),
		err);
	assert_true(allows(&acl, "192.168.7.0"));
	assert_true(allows(&acl, "192.168.7.255"));
	assert_false(allows(&acl, "192.168.6.255"));
	assert_false(allows(&acl, "192.168.8.0"));
	assert_true(allows(&acl, "10.1.2.3"));
	assert_false(allows(&acl, "10.1.2.2"));
	assert_false(allows(&acl, "10.1.2.4"));
	assert_false(allows(&acl, "127.0.0.1"));
	assert_ok(pc_acl_parse(&acl, "0.0.0.0/0", err, sizeof(err)), err);
	assert_true(allows(&acl, "127.0.0.1"));
	assert_true(allows(&acl, "255.255.255.255"));
}

/*
 * Fails unless every up, non-loopback IPv4 interface address is allowed.
 * The interfaces come from getifaddrs, as in the code: this checks the
 * masking and the filtering, not the kernel.
 */
static void assert_interfaces_allowed(const struct pc_acl *acl)
{
	struct ifaddrs *list, *ifa;
	bool ok = true;

	assert_int_equal(getifaddrs(&list), 0);
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		const struct sockaddr_in *addr = (const void *)ifa->ifa_addr;

		if (!addr || addr->sin_family != AF_INET ||
		    !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		if (!pc_acl_allows(acl, &addr->sin_addr)) {
			print_error("%s: address %s not allowed\n",
				    ifa->ifa_name, inet_ntoa(addr->sin_addr));
			ok = false;
		}
	}
	freeifaddrs(list);
	assert_true(ok);
}

static void test_acl_local_subnets_cover_interfaces(void **state)
{
	struct pc_acl acl = { 0 };
	size_t count;

	(void)state;
	assert_int_equal(pc_acl_add_local_subnets(&acl, false), 0);
	assert_interfaces_allowed(&acl);
	/* Loopback only when asked for (tests on 127.0.0.0/8). */
	assert_false(allows(&acl, "127.0.0.1"));
	for (size_t i = 0; i < acl.count; i++) {
		assert_int_equal(acl.blocks[i].network.s_addr &
					 ~acl.blocks[i].mask.s_addr,
				 0);
	}
	count = acl.count;
	/* Adding them again adds nothing. */
	assert_int_equal(pc_acl_add_local_subnets(&acl, false), 0);
	assert_int_equal(acl.count, count);
	assert_int_equal(pc_acl_add_local_subnets(&acl, true), 0);
	assert_true(allows(&acl, "127.0.0.1"));
	assert_true(allows(&acl, "127.1.2.3"));
	assert_int_equal(acl.count, count + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse_accepts_addresses_and_blocks),
		cmocka_unit_test(test_cidr_parse_clears_host_bits),
		cmocka_unit_test(test_cidr_parse_refuses_malformed),
		cmocka_unit_test(
			test_acl_parse_appends_comma_and_space_separated),
		cmocka_unit_test(test_acl_parse_names_bad_item_and_keeps_acl),
		cmocka_unit_test(test_acl_parse_refuses_more_than_max),
		cmocka_unit_test(test_acl_allows_only_addresses_inside_blocks),
		cmocka_unit_test(test_acl_local_subnets_cover_interfaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
