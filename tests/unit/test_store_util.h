/*
 * test_store_util.h - what the store's unit tests share: scratch caches,
 * committing chunks, and building small manifests the way the daemon gets
 * them (serialized by the publisher's code, then parsed).
 *
 * Include after <cmocka.h> and "helpers.h".
 */
#ifndef PC_TEST_STORE_UTIL_H
#define PC_TEST_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "pc_store.h"

/* Fails at the caller's file:line unless @rc is @want (both shown by
 * name). */
#define assert_rc(rc, want) \
	pc_store_test_check_rc((rc), (want), __FILE__, __LINE__)
void pc_store_test_check_rc(int rc, int want, const char *file, int line);

/*
 * cmocka setup/teardown: *state becomes a new scratch directory (char *),
 * removed by the teardown, which cmocka runs also after a failed test.
 */
int store_test_setup(void **state);
int store_test_teardown(void **state);
#define store_unit_test(test)                                   \
	cmocka_unit_test_setup_teardown(test, store_test_setup, \
					store_test_teardown)

/* Opens (rw) the cache at @dir; fails the test with the store's message. */
struct pc_store *store_test_open(const char *dir);
/* Downloads @len bytes through tmp/ and commits them; *@hash gets the id
 * (may be NULL). */
void store_test_commit(struct pc_store *store, const void *data, size_t len,
		       struct pc_hash *hash);
/* Bytes of a deterministic pseudo-random stream; caller frees. */
uint8_t *store_test_bytes(size_t len, uint64_t seed);
/* Entries in directory @dir (without . and ..). */
size_t store_test_count_files(const char *dir);
/* CACHE/chunks/ab/<hex> of @hash in a new string; caller frees. */
char *store_test_chunk_file(const char *cache, const struct pc_hash *hash);

/* One manifest entry: a file's content becomes one chunk; a symlink's
 * "content" is its target.  mode 0 means 0755 (dirs) or 0644. */
struct store_test_entry {
	char type; /* 'D', 'F', 'L' */
	const char *path;
	const char *content;
	int64_t mtime;
	uint32_t mode;
};

/* A parsed manifest of @entries (any order) and a head of @version that
 * names it.  Caller frees with pc_manifest_free(). */
struct pc_manifest *store_test_manifest(const struct store_test_entry *entries,
					size_t count, int64_t root_mtime,
					uint64_t version, struct pc_head *head);
/* Builds and installs; returns pc_store_install()'s result. */
int store_test_install(struct pc_store *store,
		       const struct store_test_entry *entries, size_t count,
		       uint64_t version, struct pc_store_changes *changes);
/* Inode number of @path ("a/b/c") in @version (0: current), or a negative
 * errno. */
int64_t store_test_resolve(struct pc_store *store, uint64_t version,
			   const char *path);

#endif
