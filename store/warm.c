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

/* Record bytes read at most: a tree of ~50,000 entries. */
#define STORE_WARM_MAX (16u << 20)

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

/* Reads @dbi's records: from the first, or with @prefix (@len bytes) those
 * whose keys start with it; within *@budget bytes, which it counts off,
 * until *@stop. */
static void warm_dbi(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix,
		     size_t len, size_t *budget, const atomic_bool *stop,
		     volatile uint8_t *sink)
{
	MDB_val key = { len, (void *)prefix }, val;
	MDB_cursor_op op = len ? MDB_SET_RANGE : MDB_FIRST;
	MDB_cursor *cursor;
	unsigned n = 0;

	if (mdb_cursor_open(txn, dbi, &cursor) != 0)
		return;
	while (*budget > 0 && mdb_cursor_get(cursor, &key, &val, op) == 0) {
		size_t bytes = key.mv_size + val.mv_size;

		if (len && (key.mv_size < len ||
			    memcmp(key.mv_data, prefix, len) != 0))
			break;
		if (++n % 256 == 0 && atomic_load(stop))
			break;
		*sink ^= touch(&key) ^ touch(&val);
		*budget = bytes < *budget ? *budget - bytes : 0;
		op = MDB_NEXT;
	}
	mdb_cursor_close(cursor);
}

/* Maps the catalog's and @dbi's meta pages that a lookup reads first. */
static void warm_meta(MDB_txn *txn, const struct store_repo_dbis *dbi,
		      volatile uint8_t *sink)
{
	MDB_val key = { sizeof(META_CURRENT) - 1, (void *)META_CURRENT }, val;

	if (mdb_get(txn, dbi->meta, &key, &val) == 0)
		*sink ^= touch(&val);
}

void store_warm_entry(struct pc_store *base)
{
	volatile uint8_t sink = 0;
	MDB_txn *txn;

	/* Under the lock, as store_retained_manifests() says why. */
	pthread_mutex_lock(&base->repos_lock);
	if (store_txn_begin(base, MDB_RDONLY, &txn) == 0) {
		warm_meta(txn, &base->repo.dbi, &sink);
		for (size_t i = 0; i < base->nknown; i++)
			warm_meta(txn, &base->known[i].dbi, &sink);
		mdb_txn_abort(txn);
	}
	pthread_mutex_unlock(&base->repos_lock);
}

void pc_store_warm(struct pc_store *store, const atomic_bool *stop)
{
	const struct store_repo_dbis *dbi = &store->repo.dbi;
	volatile uint8_t sink = 0;
	size_t budget = STORE_WARM_MAX;
	uint8_t from[8];
	uint64_t current = 0;
	MDB_txn *txn;

	if (store_txn_begin(store, MDB_RDONLY, &txn) < 0)
		return;
	if (store_repo_meta_get(store, txn, META_CURRENT, 0, &current) < 0 ||
	    current == 0) {
		mdb_txn_abort(txn);
		return;
	}
	store_be64_put(from, current);
	warm_dbi(txn, dbi->meta, NULL, 0, &budget, stop, &sink);
	warm_dbi(txn, dbi->versions, NULL, 0, &budget, stop, &sink);
	warm_dbi(txn, dbi->dirattr, from, sizeof(from), &budget, stop, &sink);
	warm_dbi(txn, dbi->dirents, from, sizeof(from), &budget, stop, &sink);
	warm_dbi(txn, dbi->inodes, NULL, 0, &budget, stop, &sink);
	mdb_txn_abort(txn);
}
