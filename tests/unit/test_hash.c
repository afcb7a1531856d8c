/*
 * test_hash.c - content ids: SHA-256 gives the standard answers, the
 * incremental hasher agrees with the one-shot one and can be reused, and
 * the hex form is exactly 64 lowercase digits both ways.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_format.h"

#define SHA256_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void assert_hash_hex(const struct pc_hash *hash, const char *want)
{
	char hex[PC_HASH_HEX_LEN + 1];

	pc_hash_to_hex(hash, hex);
	assert_string_equal(hex, want);
}

static void test_sha256_matches_known_answers(void **state)
{
	struct pc_hash hash;

	(void)state;
	pc_sha256("", 0, &hash);
	assert_hash_hex(&hash, SHA256_EMPTY);
	pc_sha256("abc", 3, &hash);
	assert_hash_hex(&hash, SHA256_ABC);
}

/* Pieces give the whole's hash, and final() leaves the context ready for
 * the next object (the download path hashes many with one context). */
static void test_sha256_incremental_matches_and_resets(void **state)
{
	struct pc_sha256_ctx *ctx = pc_sha256_new();
	struct pc_hash hash;

	(void)state;
	assert_non_null(ctx);
	pc_sha256_update(ctx, "a", 1);
	pc_sha256_update(ctx, "", 0);
	pc_sha256_update(ctx, "bc", 2);
	pc_sha256_final(ctx, &hash);
	assert_hash_hex(&hash, SHA256_ABC);
	pc_sha256_final(ctx, &hash);
	assert_hash_hex(&hash, SHA256_EMPTY);
	pc_sha256_update(ctx, "abc", 3);
	pc_sha256_final(ctx, &hash);
	assert_hash_hex(&hash, SHA256_ABC);
	pc_sha256_free(ctx);
	pc_sha256_free(NULL);
}

static void test_hash_hex_round_trip(void **state)
{
	struct pc_hash hash, back;
	char hex[PC_HASH_HEX_LEN + 1];

	(void)state;
	for (int i = 0; i < PC_HASH_LEN; i++)
		hash.bytes[i] = (uint8_t)(i * 37 + 5);
	pc_hash_to_hex(&hash, hex);
	assert_int_equal(strlen(hex), PC_HASH_HEX_LEN);
	assert_int_equal(pc_hash_from_hex(hex, PC_HASH_HEX_LEN, &back), 0);
	assert_true(pc_hash_equal(&hash, &back));
	back.bytes[31] ^= 1;
	assert_false(pc_hash_equal(&hash, &back));
}

static void test_hash_from_hex_rejects_non_canonical(void **state)
{
	static const char *const bad[] = {
		/* uppercase */
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015"
		"AD",
		/* one non-hex digit */
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015"
		"ag",
		/* short and long */
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015"
		"a",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015"
		"ad0",
		"",
	};
	struct pc_hash hash;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pc_hash_from_hex(bad[i], strlen(bad[i]), &hash) !=
		    -EINVAL) {
			print_error("\"%s\" was accepted\n", bad[i]);
			fail();
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_matches_known_answers),
		cmocka_unit_test(test_sha256_incremental_matches_and_resets),
		cmocka_unit_test(test_hash_hex_round_trip),
		cmocka_unit_test(test_hash_from_hex_rejects_non_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
