/*
 * tree_diff.c - the names whose meaning changed between two versions, for
 * the kernel's dentry invalidation after a switch (install.c: an install
 * or a rollback).
 *
 * Both trees are dirents sorted by (version, parent, name), so one merge
 * walk over the two ranges finds every name added, removed or pointing at
 * another inode.  A subtree that exists on one side only is skipped with
 * one seek instead of walked: the kernel forgets a removed directory's
 * children with it and never saw a new directory's, and switching
 * between a tree of a million entries and a small one must not list (or
 * hold in memory) a million names.  A directory that is absent from the
 * old tree has no children in the kernel's cache, whatever its inode: a
 * switch that removed it earlier invalidated it with its subtree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"

/* A cursor over the dirents of one version. */
struct version_walk {
	MDB_cursor *cursor;
	uint64_t version;
	uint8_t prefix[16];
	MDB_val key, val;
	bool valid;
};

static int walk_step(struct version_walk *w, MDB_cursor_op op)
{
	int rc = mdb_cursor_get(w->cursor, &w->key, &w->val, op);

	w->valid = rc == 0 && w->key.mv_size > STORE_DIRENT_PREFIX_LEN &&
		   memcmp(w->key.mv_data, w->prefix, 8) == 0;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_error("comparing trees", rc);
}

static int walk_start(struct pc_store *store, MDB_txn *txn,
		      struct version_walk *w, uint64_t version)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->version = version;
	rc = store_mdb_error(
		"comparing trees",
		mdb_cursor_open(txn, store->repo.dbi.dirents, &w->cursor));
	if (rc < 0)
		return rc;
	store_be64_put(w->prefix, version);
	w->key.mv_size = 8;
	w->key.mv_data = w->prefix;
	if (version == 0)
		return 0; /* the empty tree before the first install */
	return walk_step(w, MDB_SET_RANGE);
}

static uint64_t walk_parent(const struct version_walk *w)
{
	return store_be64_get((const uint8_t *)w->key.mv_data + 8);
}

/* Past every dirent under the current key's parent. */
static int walk_skip_parent(struct version_walk *w)
{
	store_key_pair(w->version, walk_parent(w) + 1, w->prefix);
	w->key.mv_size = 16;
	w->key.mv_data = w->prefix;
	return walk_step(w, MDB_SET_RANGE);
}

/* Orders two dirent keys of different versions by (parent, name). */
static int compare_names(const MDB_val *a, const MDB_val *b)
{
	size_t alen = a->mv_size - 8, blen = b->mv_size - 8;
	int c = memcmp((const uint8_t *)a->mv_data + 8,
		       (const uint8_t *)b->mv_data + 8,
		       alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int add_change(struct pc_store_changes *changes, size_t *cap,
		      const MDB_val *key)
{
	struct pc_store_change *grown, *change;

	if (changes->count == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		grown = realloc(changes->items, *cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		changes->items = grown;
	}
	change = &changes->items[changes->count];
	change->parent = store_be64_get((const uint8_t *)key->mv_data + 8);
	change->name =
		strndup((const char *)key->mv_data + STORE_DIRENT_PREFIX_LEN,
			key->mv_size - STORE_DIRENT_PREFIX_LEN);
	if (!change->name)
		return -ENOMEM;
	changes->count++;
	return 0;
}

static bool same_child(const MDB_val *a, const MDB_val *b)
{
	return a->mv_size == b->mv_size &&
	       memcmp(a->mv_data, b->mv_data, a->mv_size) == 0;
}

/* Directories of one version's tree, as asked by the other walk (one
 * lookup per parent: its children come together). */
struct dir_cache {
	MDB_txn *txn;
	MDB_dbi dirattr;
	uint64_t version;
	uint64_t last; /* 0: none asked yet */
	bool last_exists;
};

static bool dir_exists(struct dir_cache *d, uint64_t ino)
{
	uint8_t key_buf[16];
	MDB_val key = { sizeof(key_buf), key_buf }, val;

	if (ino == PC_ROOT_INO)
		return true;
	if (ino != d->last) {
		store_key_pair(d->version, ino, key_buf);
		d->last = ino;
		d->last_exists = mdb_get(d->txn, d->dirattr, &key, &val) == 0;
	}
	return d->last_exists;
}

int store_diff_trees(struct pc_store *store, MDB_txn *txn, uint64_t old_version,
		     uint64_t new_version, uint64_t first_new_ino,
		     struct pc_store_changes *changes)
{
	struct dir_cache in_new = { txn, store->repo.dbi.dirattr, new_version,
				    0, false };
	struct dir_cache in_old = { txn, store->repo.dbi.dirattr, old_version,
				    0, false };
	struct version_walk old, new;
	size_t cap = 0, steps = 0;
	int rc, c;

	rc = walk_start(store, txn, &old, old_version);
	if (rc == 0)
		rc = walk_start(store, txn, &new, new_version);
	while (rc == 0 && (old.valid || new.valid)) {
		/* Each seek faults in pages far apart (see install.c). */
		if (++steps % 32 == 0)
			store_map_trim(store);
		if (old.valid && !dir_exists(&in_new, walk_parent(&old))) {
			rc = walk_skip_parent(&old); /* a removed subtree */
			continue;
		}
		if (new.valid && (walk_parent(&new) >= first_new_ino ||
				  !dir_exists(&in_old, walk_parent(&new)))) {
			rc = walk_skip_parent(&new); /* an added subtree */
			continue;
		}
		c = !old.valid	 ? 1
		    : !new.valid ? -1
				 : compare_names(&old.key, &new.key);
		if (c < 0)
			rc = add_change(changes, &cap, &old.key);
		else if (c > 0 || !same_child(&old.val, &new.val))
			rc = add_change(changes, &cap, &new.key);
		if (rc == 0 && c <= 0)
			rc = walk_step(&old, MDB_NEXT);
		if (rc == 0 && c >= 0)
			rc = walk_step(&new, MDB_NEXT);
	}
	if (old.cursor)
		mdb_cursor_close(old.cursor);
	if (new.cursor)
		mdb_cursor_close(new.cursor);
	return rc;
}
