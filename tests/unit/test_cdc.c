/*
 * test_cdc.c - the FastCDC chunker: bounds, determinism, and the property
 * the format is built for (an insertion disturbs only the chunks near it).
 *
 * Test data comes from a fixed-seed PRNG so that every run cuts the same
 * chunks; a failure is therefore reproducible.  Files are chunked the way
 * the publisher does it: pc_cdc_cut() on whatever bytes remain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_format.h"

#define MIB (1024u * 1024)

/* Cut lengths of one whole buffer, in order. */
struct cuts {
	size_t n;
	size_t len[4096];
};

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* @len pseudo-random bytes, the same for the same @seed. */
static uint8_t *random_bytes(size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	uint64_t state = seed;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t word = xorshift64(&state);

		memcpy(buf + i, &word, len - i < 8 ? len - i : 8);
	}
	return buf;
}

static void chunk_all(const uint8_t *buf, size_t len, struct cuts *cuts)
{
	size_t pos = 0;

	cuts->n = 0;
	while (pos < len) {
		size_t cut = pc_cdc_cut(buf + pos, len - pos);

		assert_in_range(cut, 1, len - pos);
		assert_true(cuts->n < sizeof(cuts->len) / sizeof(cuts->len[0]));
		cuts->len[cuts->n++] = cut;
		pos += cut;
	}
}

static struct cuts *new_cuts(void)
{
	struct cuts *cuts = calloc(1, sizeof(*cuts));

	assert_non_null(cuts);
	return cuts;
}

static void test_cdc_len_0_returns_0(void **state)
{
	static const uint8_t nothing[1];

	(void)state;
	assert_int_equal(pc_cdc_cut(nothing, 0), 0);
}

static void test_cdc_input_up_to_min_is_one_chunk(void **state)
{
	static const size_t lens[] = {
		1, 2, 100, 4096, PC_CHUNK_MIN - 1, PC_CHUNK_MIN
	};
	uint8_t *buf = random_bytes(PC_CHUNK_MIN, 1);

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		assert_int_equal(pc_cdc_cut(buf, lens[i]), lens[i]);
	free(buf);
}

static void test_cdc_chunks_within_bounds(void **state)
{
	/* Odd total so the final chunk is a remainder, not a cut. */
	size_t len = 48 * MIB + 12345;
	uint8_t *buf = random_bytes(len, 2);
	struct cuts *cuts = new_cuts();

	(void)state;
	chunk_all(buf, len, cuts);
	assert_true(cuts->n > 1);
	for (size_t i = 0; i + 1 < cuts->n; i++)
		assert_in_range(cuts->len[i], PC_CHUNK_MIN, PC_CHUNK_MAX);
	assert_in_range(cuts->len[cuts->n - 1], 1, PC_CHUNK_MAX);
	free(cuts);
	free(buf);
}

/* Inputs between MIN and MAX never get a cut past their end. */
static void test_cdc_cut_never_exceeds_input(void **state)
{
	static const size_t lens[] = { PC_CHUNK_MIN + 1, PC_CHUNK_AVG - 1,
				       PC_CHUNK_AVG,	 PC_CHUNK_AVG + 1,
				       PC_CHUNK_MAX - 1, PC_CHUNK_MAX };
	uint8_t *zeros = calloc(1, PC_CHUNK_MAX);

	(void)state;
	assert_non_null(zeros);
	/* Zeros never satisfy the mask, so each cut is at the end. */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		assert_int_equal(pc_cdc_cut(zeros, lens[i]), lens[i]);
	free(zeros);
}

static void test_cdc_is_deterministic(void **state)
{
	size_t len = 16 * MIB + 7;
	uint8_t *buf = random_bytes(len, 3);
	uint8_t *copy = pc_test_exact_copy(buf, len);
	struct cuts *first = new_cuts(), *second = new_cuts();

	(void)state;
	chunk_all(buf, len, first);
	chunk_all(copy, len, second); /* another address, same bytes */
	assert_int_equal(first->n, second->n);
	assert_memory_equal(first->len, second->len,
			    first->n * sizeof(first->len[0]));
	free(first);
	free(second);
	free(copy);
	free(buf);
}

static void test_cdc_concatenated_chunks_equal_file(void **state)
{
	size_t len = 24 * MIB + 999;
	uint8_t *buf = random_bytes(len, 4);
	uint8_t *joined = malloc(len);
	struct pc_sha256_ctx *ctx = pc_sha256_new();
	struct pc_hash whole, pieces;
	size_t pos = 0;

	(void)state;
	assert_non_null(joined);
	assert_non_null(ctx);
	while (pos < len) {
		size_t cut = pc_cdc_cut(buf + pos, len - pos);
		uint8_t *chunk = pc_test_exact_copy(buf + pos, cut);

		memcpy(joined + pos, chunk, cut);
		pc_sha256_update(ctx, chunk, cut);
		free(chunk);
		pos += cut;
	}
	assert_int_equal(pos, len);
	assert_memory_equal(joined, buf, len);
	pc_sha256(buf, len, &whole);
	pc_sha256_final(ctx, &pieces);
	assert_true(pc_hash_equal(&whole, &pieces));
	pc_sha256_free(ctx);
	free(joined);
	free(buf);
}

/* Data without variation never matches the mask: every cut is at MAX. */
static void test_cdc_same_byte_data_cuts_at_max(void **state)
{
	static const uint8_t values[] = { 0x00, 0xff, 0x5a, 'A' };
	size_t len = 2 * PC_CHUNK_MAX + 100;
	uint8_t *buf = malloc(len);
	struct cuts *cuts = new_cuts();

	(void)state;
	assert_non_null(buf);
	for (size_t v = 0; v < sizeof(values); v++) {
		memset(buf, values[v], len);
		chunk_all(buf, len, cuts);
		assert_int_equal(cuts->n, 3);
		assert_int_equal(cuts->len[0], PC_CHUNK_MAX);
		assert_int_equal(cuts->len[1], PC_CHUNK_MAX);
		assert_int_equal(cuts->len[2], 100);
	}
	free(cuts);
	free(buf);
}

/* ---- conformance with docs/FORMAT.md ----------------------------------- */

static uint64_t spec_splitmix64(uint64_t *state)
{
	uint64_t z;

	*state += 0x9e3779b97f4a7c15ull;
	z = *state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The cut algorithm exactly as docs/FORMAT.md states it. */
static size_t spec_cut(const uint64_t gear[256], const uint8_t *b, size_t n)
{
	const uint64_t hard = 0xFFFFFC0000000000ull,
		       easy = 0xFFFFC00000000000ull;
	size_t end = n < 4194304 ? n : 4194304;
	size_t normal = end < 1048576 ? end : 1048576;
	uint64_t h = 0;
	size_t i;

	if (n <= 262144)
		return n;
	for (i = 262144; i < normal; i++) {
		h = (h << 1) + gear[b[i]];
		if (!(h & hard))
			return i + 1;
	}
	for (; i < end; i++) {
		h = (h << 1) + gear[b[i]];
		if (!(h & easy))
			return i + 1;
	}
	return end;
}

static void test_cdc_matches_format_spec(void **state)
{
	size_t len = 32 * MIB + 3;
	uint8_t *buf = random_bytes(len, 5);
	uint64_t gear[256], seed = 0x7065657263616368ull;
	size_t pos = 0, chunks = 0;

	(void)state;
	for (int i = 0; i < 256; i++)
		gear[i] = spec_splitmix64(&seed);
	while (pos < len) {
		size_t cut = pc_cdc_cut(buf + pos, len - pos);

		assert_int_equal(cut, spec_cut(gear, buf + pos, len - pos));
		pos += cut;
		chunks++;
	}
	assert_true(chunks > 8); /* the data really was cut, not just capped */
	free(buf);
}

/* Places a cut of the spec at @rel bytes from the start of a search, as
 * the hash at @pos of @buf allows (it depends on the 64 bytes up to
 * @pos), and checks pc_cdc_cut() against the spec there, on the rest of
 * the buffer and on an input that ends a few bytes later (a last block cut
 * short).  True if the cut fell at @rel. */
static bool placed_cut_matches(const uint64_t gear[256], const uint8_t *buf,
			       size_t len, size_t pos, size_t rel)
{
	size_t off = pos + 1 - rel;
	size_t cut = pc_cdc_cut(buf + off, len - off);

	assert_int_equal(cut, spec_cut(gear, buf + off, len - off));
	assert_int_equal(pc_cdc_cut(buf + off, rel + 5),
			 spec_cut(gear, buf + off, rel + 5));
	return cut == rel;
}

/* pc_cdc_cut() searches with two streams over blocks of 16 KiB (cdc.c),
 * the second one's hash filled from 64 bytes before its block: a cut just
 * before, at or after a block edge must still be the spec's.  Positions of
 * random data whose hash clears a mask are placed at block edges of the
 * hard region (the first pairs of blocks, the middle, the last before
 * normal; nothing else cuts there: such positions are megabytes apart),
 * and at the first edges of the easy region. */
static void test_cdc_matches_format_spec_at_block_edges(void **state)
{
	static const size_t hard_edges[] = { 0,	 1,  2,	 3,  4,	 5,  22,
					     23, 24, 25, 44, 45, 46, 47 };
	static const size_t easy_edges[] = { 48, 49, 50, 51 };
	static const int nudges[] = { -1, 0, 1, 63 };
	const uint64_t hard = 0xFFFFFC0000000000ull,
		       easy = 0xFFFFC00000000000ull;
	size_t len = 16 * MIB, tried = 0, landed = 0;
	size_t hard_seen = 0, easy_seen = 0, nedges;
	uint8_t *buf = random_bytes(len, 8);
	uint64_t gear[256], seed = 0x7065657263616368ull, h = 0;
	const size_t *edges;

	(void)state;
	for (int i = 0; i < 256; i++)
		gear[i] = spec_splitmix64(&seed);
	for (size_t pos = 0; pos < len; pos++) {
		h = (h << 1) + gear[buf[pos]];
		if (pos < PC_CHUNK_MAX || (h & easy))
			continue;
		if (!(h & hard) && hard_seen++ < 2) {
			edges = hard_edges;
			nedges = sizeof(hard_edges) / sizeof(hard_edges[0]);
		} else if ((h & hard) && easy_seen++ < 4) {
			edges = easy_edges;
			nedges = sizeof(easy_edges) / sizeof(easy_edges[0]);
		} else {
			continue;
		}
		for (size_t e = 0; e < nedges; e++) {
			for (size_t d = 0;
			     d < sizeof(nudges) / sizeof(nudges[0]); d++) {
				size_t rel = PC_CHUNK_MIN + edges[e] * 16384 +
					     (size_t)(long)nudges[d];

				if (rel <= PC_CHUNK_MIN)
					continue;
				tried++;
				landed += placed_cut_matches(gear, buf, len,
							     pos, rel);
			}
		}
	}
	print_message("%zu of %zu placed cuts fell where they were placed\n",
		      landed, tried);
	assert_true(hard_seen >= 2 && easy_seen >= 4);
	assert_true(landed >= tried / 2);
	free(buf);
}

/* ---- the delta property ------------------------------------------------ */

struct chunk_ids {
	size_t n;
	struct pc_hash id[512];
};

static void chunk_ids(const uint8_t *buf, size_t len, struct chunk_ids *ids)
{
	size_t pos = 0;

	ids->n = 0;
	while (pos < len) {
		size_t cut = pc_cdc_cut(buf + pos, len - pos);

		assert_true(ids->n < sizeof(ids->id) / sizeof(ids->id[0]));
		pc_sha256(buf + pos, cut, &ids->id[ids->n++]);
		pos += cut;
	}
}

static bool has_id(const struct chunk_ids *ids, const struct pc_hash *id)
{
	for (size_t i = 0; i < ids->n; i++)
		if (pc_hash_equal(&ids->id[i], id))
			return true;
	return false;
}

static void test_cdc_insert_100_bytes_changes_at_most_3_chunks(void **state)
{
	size_t len = 64 * MIB, at = len / 2 + 4321;
	uint8_t *old = random_bytes(len, 6);
	uint8_t *insert = random_bytes(100, 7);
	uint8_t *edited = malloc(len + 100);
	struct chunk_ids *before = calloc(1, sizeof(*before));
	struct chunk_ids *after = calloc(1, sizeof(*after));
	size_t new_chunks = 0;

	(void)state;
	assert_non_null(edited);
	assert_non_null(before);
	assert_non_null(after);
	memcpy(edited, old, at);
	memcpy(edited + at, insert, 100);
	memcpy(edited + at + 100, old + at, len - at);

	chunk_ids(old, len, before);
	chunk_ids(edited, len + 100, after);
	for (size_t i = 0; i < after->n; i++)
		if (!has_id(before, &after->id[i]))
			new_chunks++;
	print_message("%zu chunks before, %zu after, %zu new\n", before->n,
		      after->n, new_chunks);
	assert_in_range(new_chunks, 1, 3);
	free(after);
	free(before);
	free(edited);
	free(insert);
	free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cdc_len_0_returns_0),
		cmocka_unit_test(test_cdc_input_up_to_min_is_one_chunk),
		cmocka_unit_test(test_cdc_chunks_within_bounds),
		cmocka_unit_test(test_cdc_cut_never_exceeds_input),
		cmocka_unit_test(test_cdc_is_deterministic),
		cmocka_unit_test(test_cdc_concatenated_chunks_equal_file),
		cmocka_unit_test(test_cdc_same_byte_data_cuts_at_max),
		cmocka_unit_test(test_cdc_matches_format_spec),
		cmocka_unit_test(test_cdc_matches_format_spec_at_block_edges),
		cmocka_unit_test(
			test_cdc_insert_100_bytes_changes_at_most_3_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
