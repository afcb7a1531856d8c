/*
 * warm.c - keeping a repository's tree in the daemon's memory map, so that
 * the first lookups after the page cache was dropped or squeezed do not
 * wait for the disk.
 *
 * LMDB writes its pages with pwrite (no MDB_WRITEMAP): a version's tree
 * lands in the page cache without being in this process's map, and a
 * page that is in no map is the first the kernel lets go (and the only
 * kind `echo 3 > drop_caches` drops).  Each lookup of a cold tree then
 * reads three or four B-tree pages from the disk, one at a time: 0.2 ms
 * of a first byte here, more on a busy disk.  Reading the tree once
 * through the map after each install (and at start) maps its pages; they
 * stay until memory is really short, when the kernel may still take them.
 * An install, a rollback or a release drops the process's view of the
 * whole index on its way (store_map_trim): net/ warms every repository
 * after each, on a libuv worker, once the file system has been told.
 *
 * The pages every lookup starts from change with every commit, a group
 * commit of the chunk index included: LMDB's catalog of databases and the
 * meta database where the current version is (it holds the usage counters
 * too).  store_warm_entry() maps those after each group commit and purge.
 *
 * Bounded: at most STORE_WARM_MAX bytes of records are read, the
 * current version's directories first (dirents are keyed by version,
 * then parent inode, and parents come before their children), so a huge
 * tree maps its top and leaves the rest to be read on demand.  Mapped
 * pages count in the daemon's RSS (as file pages, which the kernel can
 * reclaim).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Record bytes read at most: a tree of ~4,000 entries, the top of a larger
 * one.  Each page read maps up to 64 KiB of the index around it that is
 * in the page cache (the kernel's fault-around), and a tree that has seen
 * many versions has its pages all over the file: the mapped total can be
 * up to 16 times this (ops/big_manifest_memory bounds it). */
#define STORE_WARM_MAX (512u << 10)

/* One warm-up: its transaction, what is left of its budget. */
struct warm {
	MDB_txn *txn;
	MDB_dbi inodes;
	size_t budget;
	const atomic_bool *stop;
	volatile uint8_t sink; /* the reads must happen */
};

/* Reads a byte of every page of @val: enough to map them all. */
static uint8_t touch(const MDB_val *val)
{
	const uint8_t *p = val->mv_data;
	uint8_t sum = 0;
	size_t at;

	for (at = 0; at < val->mv_size; at += 4096)
		sum ^= p[at];
	if (val->mv_size)
		sum ^= p[val->mv_size - 1];
	return sum;
}

/* @val read, counted off the budget. */
static void warm_record(struct warm *w, const MDB_val *key, const MDB_val *val)
{
	size_t bytes = key->mv_size + val->mv_size;

	w->sink ^= touch(key) ^ touch(val);
	w->budget = bytes < w->budget ? w->budget - bytes : 0;
}

/* Inode @ino's record: its first page only (a large file's record lists
 * every chunk, 36 bytes a MiB: the tree comes first). */
static void warm_inode(struct warm *w, uint64_t ino)
{
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;

	store_be64_put(buf, ino);
	if (mdb_get(w->txn, w->inodes, &key, &val) != 0)
		return;
	if (val.mv_size > 4096)
		val.mv_size = 4096;
	warm_record(w, &key, &val);
}

/* Reads @dbi's records: from the first, or with @prefix (@len bytes) those
 * whose keys start with it; with @children (directory entries), the
 * inode of each entry too.  Within the budget, until *stop. */
static void warm_dbi(struct warm *w, MDB_dbi dbi, const uint8_t *prefix,
		     size_t len, bool children)
{
	MDB_val key = { len, (void *)prefix }, val;
	MDB_cursor_op op = len ? MDB_SET_RANGE : MDB_FIRST;
	enum pc_entry_type type;
	MDB_cursor *cursor;
	uint64_t child;
	unsigned n = 0;

	if (mdb_cursor_open(w->txn, dbi, &cursor) != 0)
		return;
	while (w->budget > 0 && mdb_cursor_get(cursor, &key, &val, op) == 0) {
		if (len && (key.mv_size < len ||
			    memcmp(key.mv_data, prefix, len) != 0))
			break;
		if (++n % 256 == 0 && atomic_load(w->stop))
			break;
		warm_record(w, &key, &val);
		op = MDB_NEXT;
		if (children &&
		    store_dirent_val_decode(&val, &child, &type) == 0)
			warm_inode(w, child);
	}
	mdb_cursor_close(cursor);
}

void store_warm_entry(struct pc_store *base)
{
	uint64_t current;
	MDB_txn *txn;

	/* Reading "current" maps the catalog's page and the meta page, as a
	 * lookup's first read does.  Under the lock, as
	 * store_retained_manifests() says why. */
	pthread_mutex_lock(&base->repos_lock);
	if (store_txn_begin(base, MDB_RDONLY, &txn) == 0) {
		store_meta_get_in(txn, base->repo.dbi.meta, META_CURRENT, 0,
				  &current);
		for (size_t i = 0; i < base->nknown; i++)
			store_meta_get_in(txn, base->known[i].dbi.meta,
					  META_CURRENT, 0, &current);
		mdb_txn_abort(txn);
	}
	pthread_mutex_unlock(&base->repos_lock);
}

void pc_store_warm(struct pc_store *store, const atomic_bool *stop)
{
	const struct store_repo_dbis *dbi = &store->repo.dbi;
	struct warm w = { .inodes = dbi->inodes,
			  .budget = STORE_WARM_MAX,
			  .stop = stop };
	uint64_t current = 0;
	uint8_t from[8];

	if (store_txn_begin(store, MDB_RDONLY, &w.txn) < 0)
		return;
	if (store_repo_meta_get(store, w.txn, META_CURRENT, 0, &current) < 0 ||
	    current == 0) {
		mdb_txn_abort(w.txn);
		return;
	}
	store_be64_put(from, current);
	warm_dbi(&w, dbi->meta, NULL, 0, false);
	warm_dbi(&w, dbi->versions, NULL, 0, false);
	warm_dbi(&w, dbi->dirattr, from, sizeof(from), false);
	warm_inode(&w, PC_ROOT_INO); /* nobody's entry */
	/* The root's entries first, then each directory's in inode order:
	 * a huge tree keeps its top. */
	warm_dbi(&w, dbi->dirents, from, sizeof(from), true);
	mdb_txn_abort(w.txn);
}
