/*
 * test_util.c - the unit parsers of common/pc_util.h: every documented
 * suffix gives the right number, and anything else (trailing garbage,
 * signs, empty text, values that overflow 64 bits) is an error rather
 * than a silently different number.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_util.h"

struct good {
	const char *text;
	uint64_t value;
};

typedef int parse_fn(const char *text, uint64_t *out);

static void check_good(parse_fn *parse, const char *what,
		       const struct good *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t value = 12345;
		int rc = parse(cases[i].text, &value);

		if (rc != 0 || value != cases[i].value) {
			print_error("%s(\"%s\"): rc %d, value %llu; want "
				    "%llu\n",
				    what, cases[i].text, rc,
				    (unsigned long long)value,
				    (unsigned long long)cases[i].value);
			fail();
		}
	}
}

static void check_bad(parse_fn *parse, const char *what,
		      const char *const *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t value = 12345;
		int rc = parse(cases[i], &value);

		if (rc != -EINVAL || value != 12345) {
			print_error("%s(\"%s\"): rc %d, value %llu; want "
				    "-EINVAL and the output untouched\n",
				    what, cases[i], rc,
				    (unsigned long long)value);
			fail();
		}
	}
}

#define N(array) (sizeof(array) / sizeof((array)[0]))

static void test_parse_duration_accepts_every_unit(void **state)
{
	static const struct good cases[] = {
		{ "0", 0 },
		{ "90", 90 },
		{ "90s", 90 },
		{ "15m", 900 },
		{ "12h", 43200 },
		{ "7d", 604800 },
		{ "2w", 1209600 },
		{ "18446744073709551615", UINT64_MAX },
		{ "30500568904943w", 30500568904943ull * 604800 },
		{ "213503982334601d", 213503982334601ull * 86400 },
	};

	(void)state;
	check_good(pc_parse_duration, "pc_parse_duration", cases, N(cases));
}

static void test_parse_duration_rejects_garbage_and_overflow(void **state)
{
	static const char *const cases[] = {
		"",
		"12x",
		"-1",
		"+1",
		" 5",
		"5 ",
		"1.5h",
		"h",
		"5hh",
		"5H",
		"5 m",
		"0x10",
		"18446744073709551616", /* 2^64 */
		"30500568904944w",	/* just over 2^64 seconds */
		"213503982334602d",	/* likewise in days */
		"99999999999999999999999",
	};

	(void)state;
	check_bad(pc_parse_duration, "pc_parse_duration", cases, N(cases));
	assert_int_equal(pc_parse_duration(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_parse_size_accepts_every_unit(void **state)
{
	static const struct good cases[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "512K", 512ull << 10 },
		{ "512k", 512ull << 10 },
		{ "512KB", 512ull << 10 },
		{ "512KiB", 512ull << 10 },
		{ "512M", 512ull << 20 },
		{ "5G", 5ull << 30 },
		{ "5gib", 5ull << 30 },
		{ "1T", 1ull << 40 },
		{ "16777215T", 16777215ull << 40 },
		{ "18446744073709551615", UINT64_MAX },
	};

	(void)state;
	check_good(pc_parse_size, "pc_parse_size", cases, N(cases));
}

static void test_parse_size_rejects_garbage_and_overflow(void **state)
{
	static const char *const cases[] = {
		"",
		"12x",
		"-1",
		"+1",
		" 5",
		"K",
		"12KX",
		"12KiBs",
		"12KBB",
		"1.5G",
		"12P",
		"12E",
		"0x10",
		"16777216T",		/* 2^64 */
		"17179869184G",		/* 2^64 */
		"18446744073709551616", /* 2^64 */
	};

	(void)state;
	check_bad(pc_parse_size, "pc_parse_size", cases, N(cases));
	assert_int_equal(pc_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

/* A space before the unit once parsed as 12 PiB (the masked space matched
 * the NUL of the unit letters). */
static void test_parse_size_rejects_space_after_number(void **state)
{
	static const char *const cases[] = { "12 ", "12 B", "12 K" };

	(void)state;
	check_bad(pc_parse_size, "pc_parse_size", cases, N(cases));
}

static void test_format_size_prints_binary_units(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536ull << 10, "1.5 MiB" },
		{ 5ull << 30, "5.0 GiB" },
		{ 3ull << 50, "3072.0 TiB" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		assert_string_equal(
			pc_format_size(cases[i].bytes, buf, sizeof(buf)),
			cases[i].text);
}

static void test_now_monotonic_never_goes_back(void **state)
{
	double first = pc_now_monotonic(), second = pc_now_monotonic();

	(void)state;
	assert_true(first > 0);
	assert_true(second >= first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration_accepts_every_unit),
		cmocka_unit_test(
			test_parse_duration_rejects_garbage_and_overflow),
		cmocka_unit_test(test_parse_size_accepts_every_unit),
		cmocka_unit_test(test_parse_size_rejects_garbage_and_overflow),
		cmocka_unit_test(test_parse_size_rejects_space_after_number),
		cmocka_unit_test(test_format_size_prints_binary_units),
		cmocka_unit_test(test_now_monotonic_never_goes_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
