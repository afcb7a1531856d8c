/*
 * test_store_tree.c - the tree half of the store: a manifest becomes a
 * tree that lookup, getattr and readdir agree on; inode numbers are stable
 * for unchanged entries, new (and never reused) for changed ones, and
 * persistent; a version switch reports exactly the names that changed;
 * rollback is refused; two versions are retained.  A manifest is also
 * installed as a stream, in bounded transactions: a large one completely,
 * and one that turns out bad halfway leaves the current version as it
 * was, and the version installs later from a good one.
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

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Inode number of @path in @version, failing the test if it is missing. */
static uint64_t ino_of(struct pc_store *store, uint64_t version,
		       const char *path)
{
	int64_t ino = store_test_resolve(store, version, path);

	if (ino < 0) {
		print_error("'%s' in version %llu: %s\n", path,
			    (unsigned long long)version, strerror((int)-ino));
		fail();
	}
	return (uint64_t)ino;
}

static void inode_of(struct pc_store *store, uint64_t ino, struct pc_inode *out)
{
	assert_rc(pc_store_inode(store, ino, out), 0);
}

static bool has_change(const struct pc_store_changes *changes, uint64_t parent,
		       const char *name)
{
	for (size_t i = 0; i < changes->count; i++)
		if (changes->items[i].parent == parent &&
		    strcmp(changes->items[i].name, name) == 0)
			return true;
	return false;
}

static const struct store_test_entry tree_v1[] = {
	{ 'D', "etc", NULL, 100, 0755 },
	{ 'F', "etc/app.conf", "conf", 101, 0644 },
	{ 'D', "etc/app.d", NULL, 102, 0750 },
	{ 'F', "etc/app.d/extra.conf", "extra", 103, 0600 },
	{ 'L', "etc/link", "app.conf", 104, 0777 },
	/* '-' sorts before '/': "etc-old" lies between "etc" and its
	 * children, so parents are not always the previous entry. */
	{ 'D', "etc-old", NULL, 105, 0755 },
	{ 'F', "etc-old/x", "x", 106, 0644 },
	{ 'F', "readme", "hello", 107, 0644 },
	{ 'D', "var", NULL, 108, 0755 },
	{ 'D', "var/lib", NULL, 109, 0755 },
	{ 'D', "var/lib/deep", NULL, 110, 0700 },
	{ 'F', "var/lib/deep/file", "deep content", 111, 0640 },
	{ 'F', "empty", NULL, 112, 0644 },
};

static void test_store_empty_root_before_first_install(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_store_version version;
	struct pc_dir_listing listing;
	struct pc_inode inode;

	assert_rc(pc_store_current(store, &version), -ENOENT);
	assert_rc(pc_store_previous(store, &version), -ENOENT);
	assert_int_equal(pc_store_highest_version(store), 0);
	inode_of(store, PC_ROOT_INO, &inode);
	assert_int_equal(inode.type, PC_ENTRY_DIR);
	assert_int_equal(inode.mode, 0755);
	assert_int_equal(inode.parent, PC_ROOT_INO);
	assert_rc(pc_store_list(store, 0, PC_ROOT_INO, &listing), 0);
	assert_int_equal(listing.count, 0);
	pc_dir_listing_free(&listing);
	assert_rc(pc_store_lookup(store, 0, PC_ROOT_INO, "etc", &inode),
		  -ENOENT);
	assert_rc(pc_store_inode(store, 2, &inode), -ESTALE);
	pc_store_close(store);
}

static void check_listing(struct pc_store *store, uint64_t dir,
			  const char *const *names, size_t count)
{
	struct pc_dir_listing listing;
	struct pc_inode inode;

	assert_rc(pc_store_list(store, 0, dir, &listing), 0);
	assert_int_equal(listing.count, count);
	for (size_t i = 0; i < count; i++) {
		assert_string_equal(listing.entries[i].name, names[i]);
		/* readdir and lookup agree on number and type */
		assert_rc(pc_store_lookup(store, 0, dir, names[i], &inode), 0);
		assert_int_equal(listing.entries[i].ino, inode.ino);
		assert_int_equal(listing.entries[i].type, inode.type);
		assert_int_equal(inode.parent, dir);
		pc_inode_release(&inode);
	}
	pc_dir_listing_free(&listing);
}

static const char *const root_names[] = { "empty", "etc", "etc-old", "readme",
					  "var" };

/* The version record describes the head, the manifest and the tree. */
static void check_version_record(struct pc_store *store,
				 const struct pc_head *head)
{
	struct pc_store_version version;
	struct pc_inode root;

	assert_rc(pc_store_current(store, &version), 0);
	assert_int_equal(version.version, 7);
	assert_string_equal(version.name, "test-repo");
	assert_true(pc_hash_equal(&version.manifest, &head->manifest));
	assert_int_equal(version.manifest_size, head->manifest_size);
	assert_int_equal(version.created, head->created);
	assert_int_equal(version.expires, head->expires);
	assert_true(version.accepted > 0);
	assert_int_equal(version.files, 6);
	assert_int_equal(version.bytes, 4 + 5 + 1 + 5 + 12);
	assert_int_equal(version.root_mode, 0755);
	assert_int_equal(version.root_mtime, 99);
	assert_int_equal(pc_store_highest_version(store), 7);
	/* The root inode carries the manifest's root attributes. */
	inode_of(store, PC_ROOT_INO, &root);
	assert_int_equal(root.mode, 0755);
	assert_int_equal(root.mtime, 99);
	assert_int_equal(root.parent, PC_ROOT_INO);
}

/* Files, symlinks and directories keep their attributes and content. */
static void check_entries(struct pc_store *store, uint64_t etc)
{
	struct pc_inode inode, again;
	struct pc_hash hash;

	assert_rc(pc_store_lookup(store, 0, etc, "app.conf", &inode), 0);
	assert_int_equal(inode.type, PC_ENTRY_FILE);
	assert_int_equal(inode.mode, 0644);
	assert_int_equal(inode.mtime, 101);
	assert_int_equal(inode.size, 4);
	assert_int_equal(inode.nchunks, 1);
	pc_sha256("conf", 4, &hash);
	assert_true(pc_hash_equal(&inode.chunks[0].hash, &hash));
	assert_int_equal(inode.chunks[0].len, 4);
	/* The same by number. */
	inode_of(store, inode.ino, &again);
	assert_int_equal(again.ino, inode.ino);
	assert_int_equal(again.size, 4);
	assert_int_equal(again.parent, etc);
	assert_true(pc_hash_equal(&again.chunks[0].hash, &hash));
	pc_inode_release(&inode);
	pc_inode_release(&again);

	assert_rc(pc_store_lookup(store, 0, etc, "link", &inode), 0);
	assert_int_equal(inode.type, PC_ENTRY_SYMLINK);
	assert_string_equal(inode.target, "app.conf");
	assert_int_equal(inode.size, 8);
	pc_inode_release(&inode);
	inode_of(store, ino_of(store, 0, "etc/app.d"), &inode);
	assert_int_equal(inode.mode, 0750);
	assert_int_equal(inode.mtime, 102);
	inode_of(store, ino_of(store, 0, "empty"), &inode);
	assert_int_equal(inode.size, 0);
	assert_int_equal(inode.nchunks, 0);
	assert_null(inode.chunks);
}

/* ".." from every level of a nested path, and across a sibling that sorts
 * between a directory and its children. */
static void check_parents(struct pc_store *store)
{
	static const char *const chain[] = { "var/lib/deep/file",
					     "var/lib/deep", "var/lib", "var" };
	struct pc_inode inode;

	for (size_t i = 0; i < COUNT(chain); i++) {
		inode_of(store, ino_of(store, 0, chain[i]), &inode);
		assert_int_equal(inode.parent,
				 i + 1 < COUNT(chain)
					 ? ino_of(store, 0, chain[i + 1])
					 : PC_ROOT_INO);
		pc_inode_release(&inode);
	}
	inode_of(store, ino_of(store, 0, "etc-old/x"), &inode);
	assert_int_equal(inode.parent, ino_of(store, 0, "etc-old"));
	pc_inode_release(&inode);
}

static void check_errors(struct pc_store *store, uint64_t etc)
{
	struct pc_dir_listing listing;
	uint64_t readme = ino_of(store, 0, "readme");
	struct pc_inode inode;

	assert_rc(pc_store_lookup(store, 0, etc, "missing", &inode), -ENOENT);
	assert_rc(pc_store_lookup(store, 0, readme, "x", &inode), -ENOTDIR);
	assert_rc(pc_store_list(store, 0, readme, &listing), -ENOTDIR);
	assert_rc(pc_store_lookup(store, 6, PC_ROOT_INO, "etc", &inode),
		  -ESTALE);
	assert_rc(pc_store_inode(store, 1000000, &inode), -ESTALE);
}

static void test_store_install_builds_tree(void **state)
{
	static const char *const etc_names[] = { "app.conf", "app.d", "link" };
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_store_changes changes;
	struct pc_head head;
	struct pc_manifest *m;
	uint64_t etc;

	m = store_test_manifest(tree_v1, COUNT(tree_v1), 99, 7, &head);
	assert_rc(pc_store_install(store, &head, m, &changes), 0);
	pc_manifest_free(m);
	/* First install: only the (empty) root was visible before. */
	assert_int_equal(changes.count, COUNT(root_names));
	for (size_t i = 0; i < COUNT(root_names); i++)
		assert_true(has_change(&changes, PC_ROOT_INO, root_names[i]));
	pc_store_changes_free(&changes);

	check_version_record(store, &head);
	check_listing(store, PC_ROOT_INO, root_names, COUNT(root_names));
	etc = ino_of(store, 0, "etc");
	check_listing(store, etc, etc_names, COUNT(etc_names));
	check_entries(store, etc);
	check_parents(store);
	check_errors(store, etc);
	pc_store_close(store);
}

static const struct store_test_entry change_v1[] = {
	{ 'D', "d", NULL, 10, 0 },	    { 'F', "d/same", "same", 11, 0 },
	{ 'F', "d/changed", "old", 12, 0 }, { 'F', "d/removed", "bye", 13, 0 },
	{ 'F', "top", "top", 14, 0 },
};

static const struct store_test_entry change_v2[] = {
	{ 'D', "d", NULL, 20, 0 }, /* new mtime, same directory */
	{ 'F', "d/same", "same", 11, 0 },
	{ 'F', "d/changed", "new!", 12, 0 },
	{ 'F', "d/added", "hi", 15, 0 },
	{ 'D', "newdir", NULL, 16, 0 },
	{ 'F', "newdir/inside", "in", 17, 0 },
	{ 'F', "top", "top", 14, 0 },
};

static void test_store_unchanged_entries_keep_inodes(void **state)
{
	static const char *const v1_paths[] = { "d", "d/same", "d/changed",
						"d/removed", "top" };
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_store_changes changes;
	struct pc_store_version previous;
	struct pc_inode inode;
	uint64_t d, same, changed, removed, top, max_v1 = PC_ROOT_INO;

	assert_rc(
		store_test_install(store, change_v1, COUNT(change_v1), 1, NULL),
		0);
	for (size_t i = 0; i < COUNT(v1_paths); i++) {
		uint64_t ino = ino_of(store, 0, v1_paths[i]);

		max_v1 = ino > max_v1 ? ino : max_v1;
	}
	d = ino_of(store, 0, "d");
	same = ino_of(store, 0, "d/same");
	changed = ino_of(store, 0, "d/changed");
	removed = ino_of(store, 0, "d/removed");
	top = ino_of(store, 0, "top");

	assert_rc(store_test_install(store, change_v2, COUNT(change_v2), 2,
				     &changes),
		  0);
	assert_int_equal(ino_of(store, 0, "d"), d);
	assert_int_equal(ino_of(store, 0, "d/same"), same);
	assert_int_equal(ino_of(store, 0, "top"), top);
	assert_int_not_equal(ino_of(store, 0, "d/changed"), changed);
	assert_true(ino_of(store, 0, "d/changed") > max_v1);
	assert_true(ino_of(store, 0, "d/added") > max_v1);

	/* Exactly the names whose meaning changed, under the right parent;
	 * nothing under the new directory (the kernel never saw it). */
	assert_int_equal(changes.count, 4);
	assert_true(has_change(&changes, d, "changed"));
	assert_true(has_change(&changes, d, "added"));
	assert_true(has_change(&changes, d, "removed"));
	assert_true(has_change(&changes, PC_ROOT_INO, "newdir"));
	pc_store_changes_free(&changes);

	/* The directory shows the current version's attributes; version 1
	 * is still readable as the previous one. */
	inode_of(store, d, &inode);
	assert_int_equal(inode.mtime, 20);
	assert_rc(pc_store_lookup(store, 1, PC_ROOT_INO, "d", &inode), 0);
	assert_int_equal(inode.ino, d);
	assert_int_equal(inode.mtime, 10);
	assert_rc(pc_store_previous(store, &previous), 0);
	assert_int_equal(previous.version, 1);
	assert_rc(pc_store_lookup(store, 0, d, "removed", &inode), -ENOENT);
	assert_rc(pc_store_lookup(store, 1, d, "removed", &inode), 0);
	assert_int_equal(inode.ino, removed);
	pc_inode_release(&inode);
	inode_of(store, changed, &inode);
	assert_int_equal(inode.size, 3);
	pc_inode_release(&inode);

	pc_store_close(store);
}

static const struct store_test_entry one_file[] = {
	{ 'F', "f", "content", 1, 0 },
};

static void test_store_refuses_rollback(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_store_version current;

	assert_rc(store_test_install(store, one_file, 1, 2, NULL), 0);
	assert_rc(store_test_install(store, one_file, 1, 1, NULL), -ESTALE);
	assert_rc(store_test_install(store, one_file, 1, 2, NULL), -ESTALE);
	assert_rc(pc_store_current(store, &current), 0);
	assert_int_equal(current.version, 2);
	pc_store_close(store);

	/* The highest accepted version survives a restart. */
	store = store_test_open(dir);
	assert_int_equal(pc_store_highest_version(store), 2);
	assert_rc(store_test_install(store, one_file, 1, 1, NULL), -ESTALE);
	assert_rc(store_test_install(store, one_file, 1, 3, NULL), 0);
	assert_int_equal(pc_store_highest_version(store), 3);
	pc_store_close(store);
}

static void install_a(struct pc_store *store, const char *content,
		      uint64_t version)
{
	const struct store_test_entry tree[] = {
		{ 'F', "a", content, 1, 0 },
		{ 'F', "common", "common", 1, 0 },
	};

	assert_rc(store_test_install(store, tree, COUNT(tree), version, NULL),
		  0);
}

static void test_store_keeps_two_versions(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_dir_listing listing;
	struct pc_store_version previous;
	struct pc_inode inode;
	uint64_t a1, a2, a3, a4, common;

	install_a(store, "one", 1);
	a1 = ino_of(store, 0, "a");
	common = ino_of(store, 0, "common");
	install_a(store, "two", 2);
	a2 = ino_of(store, 0, "a");
	install_a(store, "three", 3);
	a3 = ino_of(store, 0, "a");

	/* Version 1 is gone, with the inode only it used. */
	assert_rc(pc_store_inode(store, a1, &inode), -ESTALE);
	assert_rc(pc_store_lookup(store, 1, PC_ROOT_INO, "a", &inode), -ESTALE);
	assert_rc(pc_store_list(store, 1, PC_ROOT_INO, &listing), -ESTALE);
	/* Version 2 (previous) and 3 (current) are readable. */
	assert_rc(pc_store_previous(store, &previous), 0);
	assert_int_equal(previous.version, 2);
	inode_of(store, a2, &inode);
	assert_int_equal(inode.size, 3);
	pc_inode_release(&inode);
	assert_int_equal(ino_of(store, 2, "a"), a2);
	assert_int_equal(ino_of(store, 3, "a"), a3);
	assert_int_equal(ino_of(store, 0, "common"), common);
	inode_of(store, common, &inode);
	pc_inode_release(&inode);

	/* Content seen in version 1 again: a new number, not a1. */
	install_a(store, "one", 4);
	a4 = ino_of(store, 0, "a");
	assert_int_not_equal(a4, a1);
	assert_true(a4 > a3 && a3 > a2 && a2 > a1);
	pc_store_close(store);
}

static void test_store_inodes_persist_across_reopen(void **state)
{
	static const char *const paths[] = { "etc", "etc/app.conf", "etc/link",
					     "var/lib/deep/file" };
	const struct store_test_entry extra[] = {
		{ 'F', "zz-new", "new file", 5, 0 },
	};
	struct store_test_entry v2[COUNT(tree_v1) + 1];
	uint64_t inos[COUNT(paths)], max_v1 = 0;
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	uint32_t generation = pc_store_generation(store);
	struct pc_inode inode;

	assert_int_not_equal(generation, 0);

	assert_rc(store_test_install(store, tree_v1, COUNT(tree_v1), 1, NULL),
		  0);
	for (size_t i = 0; i < COUNT(paths); i++)
		inos[i] = ino_of(store, 0, paths[i]);
	for (size_t i = 0; i < COUNT(tree_v1); i++) {
		uint64_t ino = ino_of(store, 0, tree_v1[i].path);

		max_v1 = ino > max_v1 ? ino : max_v1;
	}
	pc_store_close(store);

	/* File handles survive a restart: same numbers, same inodes, and
	 * the same generation. */
	store = store_test_open(dir);
	assert_int_equal(pc_store_generation(store), generation);
	for (size_t i = 0; i < COUNT(paths); i++) {
		assert_int_equal(ino_of(store, 0, paths[i]), inos[i]);
		inode_of(store, inos[i], &inode);
		pc_inode_release(&inode);
	}
	/* The number counter persisted too: a new entry gets a new number. */
	memcpy(v2, tree_v1, sizeof(tree_v1));
	v2[COUNT(tree_v1)] = extra[0];
	assert_rc(store_test_install(store, v2, COUNT(v2), 2, NULL), 0);
	for (size_t i = 0; i < COUNT(paths); i++)
		assert_int_equal(ino_of(store, 0, paths[i]), inos[i]);
	assert_true(ino_of(store, 0, "zz-new") > max_v1);
	pc_store_close(store);
}

/* A manifest of @dirs directories of 100 files each (text, in a new
 * buffer), and, if @bad, one more entry whose parent is a file. */
static char *stream_manifest(size_t dirs, bool bad, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	assert_non_null(out);
	fprintf(out, "peercache-manifest 1\nroot 755 1700000000\nentries %zu\n",
		dirs * 101 + (bad ? 1 : 0));
	for (size_t d = 0; d < dirs; d++) {
		fprintf(out, "D 755 1 d%05zu\n", d);
		for (size_t f = 0; f < 100; f++)
			fprintf(out, "F 644 1 0 0 d%05zu/f%03zu\n", d, f);
	}
	if (bad) /* sorts last; its parent is a file */
		fprintf(out, "F 644 1 0 0 d%05zu/f099/x\n", dirs - 1);
	assert_int_equal(fclose(out), 0);
	*len = size;
	return text;
}

static int install_text(struct pc_store *store, const char *text, size_t len,
			uint64_t version, char *why, size_t whylen)
{
	struct pc_manifest_stream *stream;
	struct pc_head head = { .format = PC_HEAD_FORMAT,
				.name = "test-repo",
				.version = version,
				.created = 1700000000,
				.expires = 1800000000,
				.manifest_size = len };
	int rc;

	pc_sha256(text, len, &head.manifest);
	assert_ok(pc_manifest_stream_open(text, len, &stream, why, whylen),
		  why);
	rc = pc_store_install_stream(store, &head, stream, NULL, NULL, NULL,
				     why, whylen);
	pc_manifest_stream_free(stream);
	return rc;
}

static void test_store_install_stream_in_batches(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	struct pc_store_version v;
	size_t len, bad_len;
	char *good = stream_manifest(60, false, &len); /* 6060 entries */
	char *bad = stream_manifest(60, true, &bad_len), why[256] = "";
	struct pc_inode inode;

	assert_rc(install_text(store, good, len, 1, why, sizeof(why)), 0);
	assert_true(ino_of(store, 0, "d00059/f099") > PC_ROOT_INO);

	/* Version 2 goes wrong after several batches are written. */
	assert_rc(install_text(store, bad, bad_len, 2, why, sizeof(why)),
		  -EINVAL);
	assert_non_null(strstr(why, "d00059/f099/x"));
	assert_rc(pc_store_current(store, &v), 0);
	assert_int_equal(v.version, 1);
	assert_int_equal(pc_store_highest_version(store), 1);
	assert_true(ino_of(store, 0, "d00059/f099") > PC_ROOT_INO);

	/* Version 2 from a good manifest: what the bad one left is gone. */
	free(good);
	good = stream_manifest(3, false, &len);
	assert_rc(install_text(store, good, len, 2, why, sizeof(why)), 0);
	assert_rc(pc_store_current(store, &v), 0);
	assert_int_equal(v.version, 2);
	assert_true(ino_of(store, 0, "d00002/f099") > PC_ROOT_INO);
	assert_rc(pc_store_lookup(store, 2, PC_ROOT_INO, "d00059", &inode),
		  -ENOENT);
	free(good);
	free(bad);
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_store_empty_root_before_first_install),
		store_unit_test(test_store_install_builds_tree),
		store_unit_test(test_store_unchanged_entries_keep_inodes),
		store_unit_test(test_store_refuses_rollback),
		store_unit_test(test_store_keeps_two_versions),
		store_unit_test(test_store_inodes_persist_across_reopen),
		store_unit_test(test_store_install_stream_in_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
