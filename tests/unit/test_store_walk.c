/*
 * test_store_walk.c - pc_store_files_after (store/walk.c), what read-ahead
 * across files asks the store: the regular files that follow a name in a
 * directory of the current version, in name order, within a count and a
 * byte bound, with their chunks.
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
#include "test_store_util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A directory with files, a subdirectory and a symlink among them; each
 * file's content is one chunk. */
static const struct store_test_entry tree[] = {
	{ 'D', "defs", NULL, 1, 0 },	     { 'F', "defs/a", "aaaa", 1, 0 },
	{ 'F', "defs/b", "bbbbbbbb", 1, 0 }, { 'D', "defs/c", NULL, 1, 0 },
	{ 'F', "defs/c/x", "xx", 1, 0 },     { 'L', "defs/d", "a", 1, 0 },
	{ 'F', "defs/e", "eeeeee", 1, 0 },   { 'F', "defs/f", "ff", 1, 0 },
	{ 'F', "other", "o", 1, 0 },
};

static void assert_chunk_of(const struct pc_chunk_ref *ref, const char *text)
{
	struct pc_hash want;

	pc_sha256(text, strlen(text), &want);
	assert_memory_equal(ref->hash.bytes, want.bytes, PC_HASH_LEN);
	assert_int_equal(ref->len, strlen(text));
}

static void test_store_files_after_lists_next_files_in_order(void **state)
{
	struct pc_store *store = store_test_open(*state);
	char first[PC_NAME_MAX + 1], last[PC_NAME_MAX + 1];
	struct pc_chunk_ref refs[8];
	uint64_t defs;

	assert_rc(store_test_install(store, tree, COUNT(tree), 1, NULL), 0);
	defs = (uint64_t)store_test_resolve(store, 0, "defs");
	/* After "a": b, e, f (c is a directory, d a symlink). */
	assert_int_equal(pc_store_files_after(store, defs, "a", 16, 1 << 20,
					      refs, 8, first, last),
			 3);
	assert_chunk_of(&refs[0], "bbbbbbbb");
	assert_chunk_of(&refs[1], "eeeeee");
	assert_chunk_of(&refs[2], "ff");
	assert_string_equal(first, "b");
	assert_string_equal(last, "f");
	/* From a name that is not there: what sorts after it. */
	assert_int_equal(pc_store_files_after(store, defs, "bz", 16, 1 << 20,
					      refs, 8, first, last),
			 2);
	assert_string_equal(first, "e");
	/* The last file: nothing after it. */
	assert_int_equal(pc_store_files_after(store, defs, "f", 16, 1 << 20,
					      refs, 8, first, last),
			 0);
	assert_string_equal(last, "");
	pc_store_close(store);
}

static void test_store_files_after_stays_within_its_bounds(void **state)
{
	struct pc_store *store = store_test_open(*state);
	char first[PC_NAME_MAX + 1], last[PC_NAME_MAX + 1];
	struct pc_chunk_ref refs[8];
	uint64_t defs;

	assert_rc(store_test_install(store, tree, COUNT(tree), 1, NULL), 0);
	defs = (uint64_t)store_test_resolve(store, 0, "defs");
	/* Two files at most. */
	assert_int_equal(pc_store_files_after(store, defs, "", 2, 1 << 20, refs,
					      8, first, last),
			 2);
	assert_string_equal(first, "a");
	assert_string_equal(last, "b");
	/* 14 bytes: a (4) and b (8) fit, e (6) would not. */
	assert_int_equal(pc_store_files_after(store, defs, "", 16, 14, refs, 8,
					      first, last),
			 2);
	assert_string_equal(last, "b");
	/* One ref of room: a alone. */
	assert_int_equal(pc_store_files_after(store, defs, "", 16, 1 << 20,
					      refs, 1, first, last),
			 1);
	assert_chunk_of(&refs[0], "aaaa");
	/* Not a directory of the current version: nothing. */
	assert_int_equal(pc_store_files_after(store, 999999, "", 16, 1 << 20,
					      refs, 8, first, last),
			 0);
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(
			test_store_files_after_lists_next_files_in_order),
		store_unit_test(test_store_files_after_stays_within_its_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
