/*
 * test_mirror_index.c - the objects a site node may pull through for a
 * branch (net/mirror_index.c): the chunks of the current and the previous
 * version's files and their manifests, with their exact lengths, and
 * nothing else; made again when the versions held change.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "mirror_serve.h"
#include "test_store_util.h"

/* The id and length of a one-chunk file whose content is @content. */
static void content_id(const char *content, struct pc_hash *hash)
{
	pc_sha256(content, strlen(content), hash);
}

static void assert_indexed(const struct mirror_index *idx, const char *content)
{
	struct pc_hash hash;

	content_id(content, &hash);
	assert_int_equal(mirror_index_find(idx, &hash), strlen(content));
}

static void assert_not_indexed(const struct mirror_index *idx,
			       const char *content)
{
	struct pc_hash hash;

	content_id(content, &hash);
	assert_int_equal(mirror_index_find(idx, &hash), 0);
}

/* The current version's manifest is indexed with its size. */
static void assert_manifest_indexed(struct pc_store *store,
				    const struct mirror_index *idx)
{
	struct pc_store_version v;

	assert_rc(pc_store_current(store, &v), 0);
	assert_int_equal(mirror_index_find(idx, &v.manifest), v.manifest_size);
}

static void test_mirror_index_holds_the_objects_of_held_versions(void **state)
{
	const struct store_test_entry v1[] = {
		{ 'F', "a.dat", "version one, file a", 1, 0 },
		{ 'D', "sub", NULL, 1, 0 },
		{ 'D', "sub/deeper", NULL, 1, 0 },
		{ 'F', "sub/deeper/b.dat", "version one, file b", 1, 0 },
		{ 'L', "link", "a.dat", 1, 0 },
	};
	const struct store_test_entry v2[] = {
		{ 'F', "a.dat", "version two, file a", 2, 0 },
	};
	const struct store_test_entry v3[] = {
		{ 'F', "c.dat", "version three, file c", 3, 0 },
	};
	struct pc_store *store = store_test_open(*state);
	struct mirror_index idx = { 0 };
	struct pc_hash unknown;

	/* Before any version: nothing, and no error. */
	assert_rc(mirror_index_refresh(&idx, store), 0);
	assert_not_indexed(&idx, "version one, file a");

	assert_rc(store_test_install(store, v1, 5, 1, NULL), 0);
	assert_rc(mirror_index_refresh(&idx, store), 0);
	assert_indexed(&idx, "version one, file a");
	assert_indexed(&idx, "version one, file b"); /* two levels down */
	assert_manifest_indexed(store, &idx);
	assert_int_equal(idx.count, 3); /* two chunks, one manifest */
	memset(&unknown, 0x5a, sizeof(unknown));
	assert_int_equal(mirror_index_find(&idx, &unknown), 0);

	/* A new version: the previous one stays pullable. */
	assert_rc(store_test_install(store, v2, 1, 2, NULL), 0);
	assert_rc(mirror_index_refresh(&idx, store), 0);
	assert_indexed(&idx, "version two, file a");
	assert_indexed(&idx, "version one, file b");
	assert_manifest_indexed(store, &idx);
	assert_int_equal(idx.count, 5);

	/* One more: the oldest is no longer held, so no longer pulled. */
	assert_rc(store_test_install(store, v3, 1, 3, NULL), 0);
	assert_rc(mirror_index_refresh(&idx, store), 0);
	assert_indexed(&idx, "version three, file c");
	assert_indexed(&idx, "version two, file a");
	assert_not_indexed(&idx, "version one, file a");
	assert_not_indexed(&idx, "version one, file b");
	assert_int_equal(idx.count, 4);
	assert_int_equal(idx.current, 3);
	assert_int_equal(idx.previous, 2);

	mirror_index_free(&idx);
	pc_store_close(store);
}

/* Enough objects to make the table grow several times: every one is
 * still found with its length. */
static void test_mirror_index_grows(void **state)
{
	enum {
		FILES = 3000
	};
	struct store_test_entry *entries = calloc(FILES, sizeof(*entries));
	char(*paths)[32] = calloc(FILES, sizeof(*paths));
	char(*contents)[48] = calloc(FILES, sizeof(*contents));
	struct pc_store *store = store_test_open(*state);
	struct mirror_index idx = { 0 };

	assert_non_null(entries);
	assert_non_null(paths);
	assert_non_null(contents);
	for (size_t i = 0; i < FILES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "f%05zu", i);
		/* Lengths differ, so a length from the wrong slot shows. */
		snprintf(contents[i], sizeof(contents[i]), "content %zu %.*s",
			 i, (int)(i % 20), "xxxxxxxxxxxxxxxxxxxx");
		entries[i] = (struct store_test_entry){ 'F', paths[i],
							contents[i], 1, 0 };
	}
	assert_rc(store_test_install(store, entries, FILES, 1, NULL), 0);
	assert_rc(mirror_index_refresh(&idx, store), 0);
	assert_int_equal(idx.count, FILES + 1);
	for (size_t i = 0; i < FILES; i++)
		assert_indexed(&idx, contents[i]);
	mirror_index_free(&idx);
	pc_store_close(store);
	free(entries);
	free(paths);
	free(contents);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(
			test_mirror_index_holds_the_objects_of_held_versions),
		store_unit_test(test_mirror_index_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
