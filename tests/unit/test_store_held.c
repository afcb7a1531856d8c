/*
 * test_store_held.c - inodes that open handles need beyond the two
 * retained versions (store/held.c): a held file's record and a held
 * directory's listing survive the drop of their version; a closed one's
 * goes at the next drop when the process knows every handle, ages out
 * (7 days by the store's clock) when it does not; after a crash every
 * inode of the versions retained then is kept until the second install;
 * a fresh mount clears them all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

#define DAY (24 * 3600)

static int64_t clock_now = 1800000000;

static int64_t test_clock(void *arg)
{
	(void)arg;
	return clock_now;
}

static struct pc_store *open_store(const char *dir)
{
	struct pc_store_options opts = { .now = test_clock };
	struct pc_store *store = NULL;
	char err[256] = "";

	assert_ok(pc_store_open_with(dir, &opts, &store, err, sizeof(err)),
		  err);
	return store;
}

/* Version @version: a.txt says @a; d/x.txt exists in version 1 only. */
static void install(struct pc_store *store, uint64_t version, const char *a)
{
	const struct store_test_entry with_d[] = {
		{ 'F', "a.txt", a, 1, 0644 },
		{ 'D', "d", NULL, 2, 0755 },
		{ 'F', "d/x.txt", "x", 3, 0644 },
	};

	assert_rc(store_test_install(store, with_d, version == 1 ? 3 : 1,
				     version, NULL),
		  0);
}

static uint64_t ino_of(struct pc_store *store, const char *path)
{
	int64_t ino = store_test_resolve(store, 0, path);

	assert_true(ino > 0);
	return (uint64_t)ino;
}

/* 0 if inode @ino can be read (a file of @size bytes), else its error. */
static int readable(struct pc_store *store, uint64_t ino, uint64_t size)
{
	struct pc_inode inode;
	int rc = pc_store_inode(store, ino, &inode);

	if (rc == 0 && inode.type == PC_ENTRY_FILE)
		assert_int_equal(inode.size, size);
	pc_inode_release(&inode);
	return rc;
}

static void test_store_held_keeps_open_inodes(void **state)
{
	struct pc_store *store = open_store(*state);
	struct pc_dir_listing listing;
	uint64_t a1, d, a2;

	install(store, 1, "A1");
	a1 = ino_of(store, "a.txt");
	d = ino_of(store, "d");
	assert_rc(pc_store_inode_hold(store, a1), 0);
	assert_rc(pc_store_inode_hold(store, d), 0);
	install(store, 2, "A22");
	a2 = ino_of(store, "a.txt");
	install(store, 3, "A333");  /* version 1 is gone */
	install(store, 4, "A4444"); /* and version 2 */
	assert_rc(readable(store, a1, 2), 0);
	assert_rc(readable(store, a2, 3), -ESTALE); /* nobody had it open */
	assert_rc(pc_store_list(store, 0, d, &listing), 0);
	assert_int_equal(listing.count, 1);
	assert_string_equal(listing.entries[0].name, "x.txt");
	pc_dir_listing_free(&listing);
	pc_store_close(store);
	/* Persisted: the next process finds them too. */
	store = open_store(*state);
	assert_rc(readable(store, a1, 2), 0);
	pc_store_close(store);
}

static void test_store_held_closed_goes_when_exact(void **state)
{
	struct pc_store *store = open_store(*state);
	uint64_t a1;

	install(store, 1, "A1");
	a1 = ino_of(store, "a.txt");
	assert_rc(pc_store_inode_hold(store, a1), 0);
	install(store, 2, "A22");
	install(store, 3, "A333");
	assert_rc(readable(store, a1, 2), 0);
	pc_store_inode_release(store, a1);
	install(store, 4, "A4444");
	assert_rc(readable(store, a1, 2), -ESTALE);
	pc_store_close(store);
}

static void test_store_held_ages_out_when_not_exact(void **state)
{
	struct pc_store *store = open_store(*state);
	uint64_t a1;

	install(store, 1, "A1");
	a1 = ino_of(store, "a.txt");
	assert_rc(pc_store_inode_hold(store, a1), 0);
	install(store, 2, "A22");
	install(store, 3, "A333");
	pc_store_inode_release(store, a1);
	pc_store_held_exact(store, false); /* handles it cannot count */
	install(store, 4, "A4444");
	assert_rc(readable(store, a1, 2), 0); /* 7 days from now */
	clock_now += 6 * DAY;
	install(store, 5, "A55555");
	assert_rc(readable(store, a1, 2), 0);
	clock_now += 2 * DAY;
	install(store, 6, "A666666");
	assert_rc(readable(store, a1, 2), -ESTALE);
	pc_store_close(store);
}

static void test_store_held_presumed_after_crash(void **state)
{
	struct pc_store *store = open_store(*state);
	uint64_t a1, a2, a3;

	install(store, 1, "A1");
	a1 = ino_of(store, "a.txt");
	install(store, 2, "A22");
	a2 = ino_of(store, "a.txt");
	assert_rc(pc_store_held_presume(store), 0); /* nothing counted */
	install(store, 3, "A333");
	a3 = ino_of(store, "a.txt");
	install(store, 4, "A4444");
	install(store, 5, "A55555");
	assert_rc(readable(store, a1, 2), 0);
	assert_rc(readable(store, a2, 3), 0);
	/* A version installed after the crash is counted as usual. */
	assert_rc(readable(store, a3, 4), -ESTALE);
	pc_store_close(store);
}

static void test_store_held_cleared_by_a_fresh_mount(void **state)
{
	struct pc_store *store = open_store(*state);
	uint64_t a1;

	install(store, 1, "A1");
	a1 = ino_of(store, "a.txt");
	assert_rc(pc_store_inode_hold(store, a1), 0);
	install(store, 2, "A22");
	install(store, 3, "A333");
	assert_rc(readable(store, a1, 2), 0);
	assert_rc(pc_store_held_clear(store), 0);
	assert_rc(readable(store, a1, 2), -ESTALE);
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_store_held_keeps_open_inodes),
		store_unit_test(test_store_held_closed_goes_when_exact),
		store_unit_test(test_store_held_ages_out_when_not_exact),
		store_unit_test(test_store_held_presumed_after_crash),
		store_unit_test(test_store_held_cleared_by_a_fresh_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
