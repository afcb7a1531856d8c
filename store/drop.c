/*
 * drop.c - letting go of what no retained version needs: the trees of
 * versions older than the previous one, the leftovers of installs cut
 * short, and inodes (with their identities) that no retained version
 * uses.
 *
 * An inode that an open file or directory needs is kept as it goes
 * (held.c), so inodes go before trees: a held directory keeps the listing
 * its tree had.
 *
 * All of it runs after a switch is committed, in write transactions of
 * STORE_DROP_BATCH records each: dropping a tree of a million entries in
 * one transaction held hundreds of MB of dirty pages.  Nothing here is
 * visible to readers (no retained version names what goes), and the order
 * makes it resumable: a tree's records go before its version record, so
 * an interrupted drop is finished by the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "install.h"

struct stale_inode {
	uint64_t ino;
	struct pc_hash identity;
};

void store_map_trim(struct pc_store *store)
{
	unsigned long start, end, inode;
	unsigned int major_no, minor_no;
	char path[4096], line[512];
	struct stat st;
	FILE *maps;

	/* LMDB does not say where it mapped the file (mdb_env_info gives an
	 * address only for MDB_FIXEDMAP), so it is found by device and
	 * inode in /proc/self/maps.  The map is read-only and shared (no
	 * MDB_WRITEMAP): dropping this process's view of its pages loses
	 * nothing, and they come back from the page cache when read.  It matters
	 * because the kernel maps 64 KiB of page cache around every page a
	 * read faults in (fault-around), and an index that has seen many
	 * copy-on-write transactions has its B-tree leaves all over the file:
	 * scanning a few thousand records mapped tens of MB. */
	snprintf(path, sizeof(path), "%s/index/data.mdb", pc_store_dir(store));
	if (stat(path, &st) < 0)
		return;
	maps = fopen("/proc/self/maps", "re");
	if (!maps)
		return;
	while (fgets(line, sizeof(line), maps))
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &start, &end,
			   &major_no, &minor_no, &inode) == 5 &&
		    inode == st.st_ino && major_no == major(st.st_dev) &&
		    minor_no == minor(st.st_dev))
			madvise((void *)start, end - start, MADV_DONTNEED);
	fclose(maps);
}

/* Deletes up to *@budget keys of @dbi starting with @prefix (@len bytes),
 * counting them off; *@done when none is left. */
static int delete_some(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix,
		       size_t len, size_t *budget, bool *done)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	int rc, mrc = 0;

	*done = false;
	rc = store_mdb_error("dropping an old version",
			     mdb_cursor_open(txn, dbi, &cursor));
	if (rc < 0)
		return rc;
	while (*budget > 0) {
		/* Seek afresh after each delete rather than rely on where a
		 * cursor stands once its item is gone. */
		key.mv_size = len;
		key.mv_data = (void *)prefix;
		mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
		if (mrc != 0 || key.mv_size < len ||
		    memcmp(key.mv_data, prefix, len) != 0) {
			*done = true;
			mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
			break;
		}
		mrc = mdb_cursor_del(cursor, 0);
		if (mrc != 0)
			break;
		(*budget)--;
	}
	mdb_cursor_close(cursor);
	return store_mdb_error("dropping an old version", mrc);
}

/* The lowest version with anything in @dbi (a be64 version prefix), or
 * UINT64_MAX. */
static int first_version(MDB_txn *txn, MDB_dbi dbi, uint64_t *version)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	int rc = store_mdb_error("dropping an old version",
				 mdb_cursor_open(txn, dbi, &cursor));

	if (rc < 0)
		return rc;
	rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
	*version = rc == 0 && key.mv_size >= 8 ? store_be64_get(key.mv_data)
					       : UINT64_MAX;
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_error("dropping", rc);
}

/* One transaction's worth of the tree (dirents, then directory
 * attributes, then the version record) of @version; *@done when all of it
 * is gone. */
static int drop_tree_batch(struct pc_store *store, MDB_txn *txn,
			   uint64_t version, bool *done)
{
	uint8_t prefix[8];
	MDB_val key = { sizeof(prefix), prefix };
	size_t budget = STORE_DROP_BATCH;
	bool dirents_done = false, dirattr_done = false;
	int rc;

	store_be64_put(prefix, version);
	rc = delete_some(txn, store->repo.dbi.dirents, prefix, 8, &budget,
			 &dirents_done);
	if (rc == 0 && dirents_done)
		rc = delete_some(txn, store->repo.dbi.dirattr, prefix, 8,
				 &budget, &dirattr_done);
	*done = dirents_done && dirattr_done;
	if (rc == 0 && *done) {
		rc = mdb_del(txn, store->repo.dbi.versions, &key, NULL);
		rc = rc == MDB_NOTFOUND
			     ? 0
			     : store_mdb_error("dropping a version", rc);
	}
	return rc;
}

/* Runs @step in write transactions until it says it is done. */
static int in_batches(struct pc_store *store,
		      int (*step)(struct pc_store *, MDB_txn *, void *, bool *),
		      void *arg)
{
	bool done = false;
	MDB_txn *txn;
	int rc = 0;

	while (rc == 0 && !done) {
		rc = store_txn_begin(store, 0, &txn);
		if (rc < 0)
			break;
		rc = step(store, txn, arg, &done);
		if (rc < 0) {
			mdb_txn_abort(txn);
			break;
		}
		rc = store_txn_commit(txn, "dropping old versions");
		store_map_trim(store);
	}
	return rc;
}

/* The oldest tree below *@keep_from: a batch of it. */
static int step_old_trees(struct pc_store *store, MDB_txn *txn, void *arg,
			  bool *done)
{
	uint64_t keep_from = *(uint64_t *)arg, dirents, dirattr, version;
	bool tree_done; /* this tree; the step goes on to the next one */
	int rc;

	rc = first_version(txn, store->repo.dbi.dirents, &dirents);
	if (rc == 0)
		rc = first_version(txn, store->repo.dbi.dirattr, &dirattr);
	if (rc < 0)
		return rc;
	version = dirents < dirattr ? dirents : dirattr;
	if (version >= keep_from) {
		*done = true;
		return 0;
	}
	return drop_tree_batch(store, txn, version, &tree_done);
}

/* Before inode @ino goes: a record an open handle needs is kept (held.c;
 * a directory's listing is read from its version's tree, so inodes go
 * before trees). */
static int keep_if_held(struct pc_store *store, MDB_txn *txn, uint64_t ino)
{
	struct store_inode_rec rec;
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;
	int rc;

	store_be64_put(buf, ino);
	rc = store_mdb_error("reading an inode",
			     mdb_get(txn, store->repo.dbi.inodes, &key, &val));
	if (rc == 0 && store_inode_decode(&val, &rec) == 0)
		rc = store_held_keep(store, txn, ino, &val, &rec);
	return rc == -ENOENT ? 0 : rc;
}

struct inode_scan {
	uint64_t keep_from;
	uint64_t next; /* the inode number the next batch starts at */
	struct stale_inode *stale; /* room for a batch */
};

/* Inodes from scan->next on that no version from keep_from on uses: up to
 * a batch of them found (collected first, so that the scan does not
 * delete under its own cursor), then dropped with their identities. */
static int step_inodes(struct pc_store *store, MDB_txn *txn, void *arg,
		       bool *done)
{
	struct inode_scan *scan = arg;
	struct stale_inode *stale = scan->stale;
	struct store_inode_rec rec;
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;
	MDB_cursor *cursor;
	size_t n = 0, seen = 0;
	int rc, mrc;

	rc = store_mdb_error(
		"scanning inodes",
		mdb_cursor_open(txn, store->repo.dbi.inodes, &cursor));
	if (rc < 0)
		return rc;
	store_be64_put(buf, scan->next);
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
	     mrc == 0 && n < STORE_DROP_BATCH && seen < 4 * STORE_DROP_BATCH;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT), seen++) {
		scan->next = store_be64_get(key.mv_data) + 1;
		/* A long-lived index has its pages all over the file, and
		 * each fault maps 64 KiB around it (see store_map_trim). */
		if (seen % 1024 == 1023)
			store_map_trim(store);
		if (key.mv_size != 8 || store_inode_decode(&val, &rec) < 0 ||
		    rec.last_version >= scan->keep_from ||
		    store_be64_get(key.mv_data) == PC_ROOT_INO)
			continue;
		stale[n].ino = store_be64_get(key.mv_data);
		stale[n++].identity = rec.identity;
	}
	mdb_cursor_close(cursor);
	*done = mrc == MDB_NOTFOUND;
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return store_mdb_error("scanning inodes", mrc);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		store_be64_put(buf, stale[i].ino);
		key.mv_size = sizeof(buf);
		key.mv_data = buf;
		rc = keep_if_held(store, txn, stale[i].ino);
		if (rc == 0)
			rc = store_mdb_error("dropping an inode",
					     mdb_del(txn,
						     store->repo.dbi.inodes,
						     &key, NULL));
		key.mv_size = PC_HASH_LEN;
		key.mv_data = stale[i].identity.bytes;
		if (rc == 0)
			rc = store_mdb_error("dropping an inode",
					     mdb_get(txn, store->repo.dbi.idmap,
						     &key, &val));
		/* Only the mapping to this very inode goes. */
		if (rc == 0 && val.mv_size == 8 &&
		    store_be64_get(val.mv_data) == stale[i].ino)
			rc = store_mdb_error("dropping an inode",
					     mdb_del(txn, store->repo.dbi.idmap,
						     &key, NULL));
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

int store_drop_old(struct pc_store *store, uint64_t keep_from)
{
	struct inode_scan scan = { keep_from, 0, NULL };
	int rc = 0;

	/* Inodes first: a held directory's listing comes from its tree. */
	scan.stale = malloc(STORE_DROP_BATCH * sizeof(*scan.stale));
	if (!scan.stale)
		rc = -ENOMEM;
	if (rc == 0)
		rc = in_batches(store, step_inodes, &scan);
	free(scan.stale);
	if (rc == 0)
		rc = in_batches(store, step_old_trees, &keep_from);
	if (rc == 0)
		rc = store_held_gc(store, keep_from);
	return rc;
}

/* A batch of the leftovers of *@arg. */
static int step_clear(struct pc_store *store, MDB_txn *txn, void *arg,
		      bool *done)
{
	return drop_tree_batch(store, txn, *(uint64_t *)arg, done);
}

int store_clear_version(struct pc_store *store, uint64_t version)
{
	return in_batches(store, step_clear, &version);
}
