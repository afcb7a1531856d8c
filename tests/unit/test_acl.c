/*
 * test_acl.c - the source check shared by discovery and the peer server:
 * CIDR blocks of both families parse strictly (a typo is refused, never
 * widened), a list names its bad item and leaves the ACL as it was, the
 * check matches exactly the addresses inside the blocks (an IPv4 block
 * also the IPv4-mapped form a dual-stack socket reports), and the node's
 * own subnets and IPv6 prefixes come from its interfaces, never a
 * link-local one.  Also the address helpers of addr.h the ACL stands on.
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
#include "disc_budget.h"
#include "helpers.h"
#include "metrics.h"

/* An IPv4 or IPv6 literal of the test. */
static struct pc_addr ip(const char *text)
{
	struct pc_addr addr;

	if (pc_addr_parse(text, &addr) != 0) {
		print_error("bad address in the test: %s\n", text);
		fail();
	}
	return addr;
}

static bool allows(const struct pc_acl *acl, const char *text)
{
	struct pc_addr addr = ip(text);

	return pc_acl_allows(acl, &addr);
}

/* The prefix length an IPv4 netmask stands for, counted over 128 bits. */
static unsigned mask_prefix(const char *mask)
{
	struct in_addr m;
	unsigned n = 96;

	assert_int_equal(inet_pton(AF_INET, mask, &m), 1);
	for (uint32_t bits = ntohl(m.s_addr); bits & 0x80000000u; bits <<= 1)
		n++;
	return n;
}

static void check_block(const char *text, const char *network, unsigned prefix,
			const char *file, int line)
{
	struct pc_cidr block;
	struct pc_addr want = ip(network);
	int rc = pc_cidr_parse(text, &block);

	if (rc != 0 || !pc_addr_equal(&block.network, &want) ||
	    block.prefix != prefix) {
		print_error("%s:%d: \"%s\": rc %d, %s/%u, want %s/%u\n", file,
			    line, text, rc, pc_addr_str(&block.network),
			    block.prefix, network, prefix);
		fail();
	}
}

/* Fails at the caller's line unless @text parses to @network/@mask. */
#define assert_cidr(text, network, mask) \
	check_block((text), (network), mask_prefix(mask), __FILE__, __LINE__)
/* The same for IPv6: @prefix as written. */
#define assert_cidr6(text, network, prefix) \
	check_block((text), (network), (prefix), __FILE__, __LINE__)

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
		"localhost",
		/* IPv6: strict too. */
		"2001:2::/129",
		"2001:2::/048",
		"2001:2:::1",
		"2001:2::1::2",
		"2001:2::g",
		"fe80::1%eth0",
		"fe80::1%1/64",
		"[2001:2::1",
		"2001:2::1]",
		"[10.1.2.3]",
		"[2001:2::1]x/64",
		"2001:0002:0000:0000:0000:0000:0000:0001:1",
		" 2001:2::1",
		"2001:2::/48 ",
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
		     -EINVAL, err, "is not an address");
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
	assert_false(pc_acl_allows(NULL, &(struct pc_addr){ 0 }));
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

static void test_cidr_parse_takes_ipv6_prefixes(void **state)
{
	(void)state;
	assert_cidr6("2001:2::/48", "2001:2::", 48);
	assert_cidr6("2001:2:0:1::17/64", "2001:2:0:1::", 64);
	assert_cidr6("[2001:2::1]/64", "2001:2::", 64);
	assert_cidr6("2001:2::1", "2001:2::1", 128);
	assert_cidr6("[2001:2::1]", "2001:2::1", 128);
	assert_cidr6("::/0", "::", 0);
	assert_cidr6("2001:2:ffff::/33", "2001:2:8000::", 33);
	assert_cidr6("2001:2::1/127", "2001:2::", 127);
	/* An IPv4 address written IPv4-mapped is that IPv4 address, and its
	 * length counts over 128 bits. */
	assert_cidr6("::ffff:10.1.2.3", "10.1.2.3", 128);
	assert_cidr6("::ffff:10.1.2.3/120", "10.1.2.0", 120);
	/* An IPv4 length counts from bit 96. */
	assert_cidr6("10.1.2.3/24", "10.1.2.0", 120);
}

static void test_acl_allows_ipv6_prefixes_and_mapped_ipv4(void **state)
{
	struct pc_acl acl = { 0 };
	char err[256] = "";

	(void)state;
	assert_ok(pc_acl_parse(&acl, "2001:2:0:1::/64, 198.18.0.0/24", err,
			       sizeof(err)),
		  err);
	assert_int_equal(acl.count, 2);
	assert_true(allows(&acl, "2001:2:0:1::1"));
	assert_true(allows(&acl, "2001:2:0:1:ffff:ffff:ffff:ffff"));
	assert_false(allows(&acl, "2001:2:0:2::1"));
	assert_false(allows(&acl, "2001:2::1"));
	assert_false(allows(&acl, "fe80::1"));
	/* A dual-stack socket reports IPv4 sources mapped: the IPv4 block
	 * matches them, and only them. */
	assert_true(allows(&acl, "198.18.0.7"));
	assert_true(allows(&acl, "::ffff:198.18.0.7"));
	assert_false(allows(&acl, "::198.18.0.7"));
	assert_false(allows(&acl, "64:ff9b::198.18.0.7"));
	/* An IPv4 /0 is all of IPv4, no IPv6. */
	assert_ok(pc_acl_parse(&acl, "0.0.0.0/0", err, sizeof(err)), err);
	assert_true(allows(&acl, "203.0.113.1"));
	assert_false(allows(&acl, "2001:2:0:2::1"));
	assert_ok(pc_acl_parse(&acl, "::/0", err, sizeof(err)), err);
	assert_true(allows(&acl, "2001:2:0:2::1"));
	assert_error(pc_acl_parse(&acl, "2001:2::/48 2001:2::/200", err,
				  sizeof(err)),
		     -EINVAL, err, "\"2001:2::/200\"");
}

static void test_addr_limit_key_is_the_slash64(void **state)
{
	struct pc_addr a = ip("2001:2:0:1:aaaa:bbbb:cccc:dddd");
	struct pc_addr b = ip("2001:2:0:1::99");
	struct pc_addr c = ip("2001:2:0:2::99");
	struct pc_addr v4 = ip("198.18.0.7"), v4b = ip("198.18.0.8");
	struct pc_addr ka = pc_addr_limit_key(&a), kb = pc_addr_limit_key(&b);
	struct pc_addr kc = pc_addr_limit_key(&c), k4 = pc_addr_limit_key(&v4);
	struct pc_addr k4b = pc_addr_limit_key(&v4b);

	(void)state;
	/* Every address of one /64 is one source; another /64 is another. */
	assert_true(pc_addr_equal(&ka, &kb));
	assert_false(pc_addr_equal(&ka, &kc));
	/* IPv4 stays per address. */
	assert_true(pc_addr_equal(&k4, &v4));
	assert_false(pc_addr_equal(&k4, &k4b));
}

static void test_addr_text_forms(void **state)
{
	struct pc_addr v6 = ip("[2001:2::1]"), v4 = ip("198.18.0.7");
	char host[PC_ADDR_HOST_MAX];

	(void)state;
	assert_string_equal(pc_addr_str(&v6), "2001:2::1");
	assert_string_equal(pc_addr_str(&v4), "198.18.0.7");
	assert_true(pc_addr_is_v4(&v4));
	assert_false(pc_addr_is_v4(&v6));
	pc_addr_url_host(&v6, host, sizeof(host));
	assert_string_equal(host, "[2001:2::1]");
	pc_addr_url_host(&v4, host, sizeof(host));
	assert_string_equal(host, "198.18.0.7");
	/* IPv4 sorts before global IPv6 (claims' ranks). */
	assert_true(pc_addr_cmp(&v4, &v6) < 0);
	v6 = ip("::1");
	v4 = ip("127.0.0.2");
	assert_true(pc_addr_is_loopback(&v6));
	assert_true(pc_addr_is_loopback(&v4));
}

/* Discovery's per-source budget counts an IPv6 source by its /64: a host
 * that rotates through the addresses of its prefix stays one source; an
 * IPv4 source is its address. */
static void test_disc_budget_keys_ipv6_by_slash64(void **state)
{
	struct disc_budget b;
	struct disc_budget_opts o = { .source_rate = 0,
				      .source_burst = 4,
				      .total_rate = 0,
				      .total_burst = 1000,
				      .unproven_rate = 0,
				      .unproven_burst = 1000 };
	struct pc_addr same64 = ip("2001:2:0:1:ffff::9");
	struct pc_addr other64 = ip("2001:2:0:2::1");
	char text[64];
	bool proven;

	(void)state;
	disc_budget_init(&b, &o, 1);
	for (unsigned i = 1; i <= 4; i++) {
		struct pc_addr a;

		snprintf(text, sizeof(text), "2001:2:0:1::%x", i);
		a = ip(text);
		assert_int_equal(disc_budget_take(&b, &a, 1, &proven),
				 DISC_PASS);
	}
	/* A fifth address of the same /64: the /64's bucket is empty. */
	assert_int_equal(disc_budget_take(&b, &same64, 1, &proven),
			 DISC_OVER_SOURCE);
	/* Another /64 has its own. */
	assert_int_equal(disc_budget_take(&b, &other64, 1, &proven), DISC_PASS);
	/* IPv4: one bucket per address. */
	for (unsigned i = 1; i <= 6; i++) {
		struct pc_addr a;

		snprintf(text, sizeof(text), "198.18.0.%u", i);
		a = ip(text);
		assert_int_equal(disc_budget_take(&b, &a, 1, &proven),
				 DISC_PASS);
	}
}

/* metrics_listen: IPv6 in brackets (and only so: "::1:9100" could be
 * either), IPv4 as before, loopback without a host. */
static void test_metrics_listen_takes_bracketed_ipv6(void **state)
{
	static const char *const bad[] = {
		"::1:9100",	    "[::1]",	   "[::1]:",
		"[::1]:0",	    "[::1]:70000", "[127.0.0.1]:9100",
		"[fe80::1%1]:9100", "[::1:9100"
	};
	union pc_sockaddr sa;
	struct pc_addr addr;
	uint16_t port = 0;
	char err[256];

	(void)state;
	assert_int_equal(
		net_metrics_parse_listen("[::1]:9100", &sa, err, sizeof(err)),
		0);
	assert_int_equal(sa.sa.sa_family, AF_INET6);
	assert_true(pc_addr_from_sockaddr(&addr, &sa.sa, &port));
	assert_string_equal(pc_addr_str(&addr), "::1");
	assert_int_equal(port, 9100);
	assert_int_equal(
		net_metrics_parse_listen("[::]:9464", &sa, err, sizeof(err)),
		0);
	assert_int_equal(sa.sa.sa_family, AF_INET6);
	assert_int_equal(net_metrics_parse_listen("198.18.0.1:9464", &sa, err,
						  sizeof(err)),
			 0);
	assert_int_equal(sa.sa.sa_family, AF_INET);
	assert_int_equal(
		net_metrics_parse_listen("9464", &sa, err, sizeof(err)), 0);
	assert_true(pc_addr_from_sockaddr(&addr, &sa.sa, &port));
	assert_string_equal(pc_addr_str(&addr), "127.0.0.1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (net_metrics_parse_listen(bad[i], &sa, err, sizeof(err)) !=
		    -EINVAL) {
			print_error("\"%s\" was accepted\n", bad[i]);
			fail();
		}
		assert_non_null(strstr(err, "metrics_listen"));
	}
}

/*
 * Fails unless every up, non-loopback interface address (IPv4, or global
 * IPv6) is allowed, and no link-local one is.  The interfaces come from
 * getifaddrs, as in the code: this checks the masking and the filtering,
 * not the kernel.
 */
static void assert_interfaces_allowed(const struct pc_acl *acl)
{
	struct ifaddrs *list, *ifa;
	struct pc_addr addr;
	bool ok = true;

	assert_int_equal(getifaddrs(&list), 0);
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		bool link_local;

		if (!pc_addr_from_sockaddr(&addr, ifa->ifa_addr, NULL) ||
		    !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		link_local = ifa->ifa_addr->sa_family == AF_INET6 &&
			     IN6_IS_ADDR_LINKLOCAL(&addr.a);
		if (pc_acl_allows(acl, &addr) == link_local) {
			print_error("%s: address %s %sallowed\n", ifa->ifa_name,
				    pc_addr_str(&addr),
				    link_local ? "" : "not ");
			ok = false;
		}
	}
	freeifaddrs(list);
	assert_true(ok);
}

/* Loopback addresses an up interface holds: 127.0.0.1, maybe ::1. */
static size_t loopback_blocks(void)
{
	struct ifaddrs *list, *ifa;
	size_t n = 0;

	assert_int_equal(getifaddrs(&list), 0);
	for (ifa = list; ifa; ifa = ifa->ifa_next)
		n += ifa->ifa_addr && (ifa->ifa_flags & IFF_LOOPBACK) &&
		     (ifa->ifa_flags & IFF_UP) &&
		     (ifa->ifa_addr->sa_family == AF_INET ||
		      ifa->ifa_addr->sa_family == AF_INET6);
	freeifaddrs(list);
	return n;
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
		/* Host bits cleared: the network is inside its own block
		 * and is its first address. */
		assert_true(pc_cidr_contains(&acl.blocks[i],
					     &acl.blocks[i].network));
		assert_true(acl.blocks[i].prefix <= 128);
	}
	count = acl.count;
	/* Adding them again adds nothing. */
	assert_int_equal(pc_acl_add_local_subnets(&acl, false), 0);
	assert_int_equal(acl.count, count);
	assert_int_equal(pc_acl_add_local_subnets(&acl, true), 0);
	assert_true(allows(&acl, "127.0.0.1"));
	assert_true(allows(&acl, "127.1.2.3"));
	assert_int_equal(acl.count, count + loopback_blocks());
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
		cmocka_unit_test(test_cidr_parse_takes_ipv6_prefixes),
		cmocka_unit_test(test_acl_allows_ipv6_prefixes_and_mapped_ipv4),
		cmocka_unit_test(test_addr_limit_key_is_the_slash64),
		cmocka_unit_test(test_addr_text_forms),
		cmocka_unit_test(test_disc_budget_keys_ipv6_by_slash64),
		cmocka_unit_test(test_metrics_listen_takes_bracketed_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
