/*
 * walk.c - the files that come next in a directory, for read-ahead
 * across files (fs/walk.c): a reader that opens a directory's files in
 * name order (the manifest's order) gets the next ones fetched ahead.
 *
 * One short read transaction: a cursor on "dirents" from the name given,
 * and each regular file's inode record for its chunk list.  Directories
 * and symlinks are skipped; a file that would go over the byte bound ends
 * the list (a large file has its own read-ahead once it is opened).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

struct files_after {
	size_t max_files;
	uint64_t max_bytes;
	struct pc_chunk_ref *refs;
	size_t max_refs;
	size_t nrefs, nfiles;
	uint64_t bytes;
	char *first, *last;
};

/* Adds file @ino (named @name, @name_len bytes) if it fits; 1 if the list
 * is complete (it did not fit), 0 to go on, or a negative errno. */
static int add_file(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		    const char *name, size_t name_len, struct files_after *fa)
{
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;
	struct store_inode_rec rec;
	struct pc_inode inode;
	int rc;

	store_be64_put(buf, ino);
	rc = store_mdb_error("reading an inode",
			     mdb_get(txn, store->repo.dbi.inodes, &key, &val));
	if (rc == 0 && store_inode_decode(&val, &rec) < 0)
		rc = store_mdb_error("decoding an inode", MDB_CORRUPTED);
	if (rc < 0)
		return rc;
	if (rec.type != PC_ENTRY_FILE)
		return 0;
	if (fa->nrefs + rec.nchunks > fa->max_refs ||
	    fa->bytes + rec.size > fa->max_bytes)
		return 1;
	rc = store_inode_to_pc(&rec, ino, &inode);
	if (rc < 0)
		return rc;
	memcpy(fa->refs + fa->nrefs, inode.chunks,
	       inode.nchunks * sizeof(*inode.chunks));
	fa->nrefs += inode.nchunks;
	fa->bytes += inode.size;
	pc_inode_release(&inode);
	if (fa->nfiles == 0) {
		memcpy(fa->first, name, name_len);
		fa->first[name_len] = '\0';
	}
	memcpy(fa->last, name, name_len);
	fa->last[name_len] = '\0';
	return ++fa->nfiles == fa->max_files ? 1 : 0;
}

/* The walk itself, in @txn, from the first name after @after. */
static int walk(struct pc_store *store, MDB_txn *txn, uint64_t version,
		uint64_t parent, const char *after, struct files_after *fa)
{
	uint8_t start[STORE_DIRENT_KEY_MAX];
	MDB_val key = { 0, start }, val;
	enum pc_entry_type type;
	MDB_cursor *cursor;
	uint64_t ino;
	int rc, mrc;

	key.mv_size =
		store_dirent_key(version, parent, after, strlen(after), start);
	rc = store_mdb_error(
		"listing a directory",
		mdb_cursor_open(txn, store->repo.dbi.dirents, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
	     mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		const char *name =
			(const char *)key.mv_data + STORE_DIRENT_PREFIX_LEN;
		size_t name_len = key.mv_size - STORE_DIRENT_PREFIX_LEN;

		if (key.mv_size <= STORE_DIRENT_PREFIX_LEN ||
		    memcmp(key.mv_data, start, STORE_DIRENT_PREFIX_LEN) != 0)
			break;
		if (name_len == strlen(after) &&
		    memcmp(name, after, name_len) == 0)
			continue; /* @after itself */
		if (store_dirent_val_decode(&val, &ino, &type) < 0)
			rc = store_mdb_error("decoding an entry",
					     MDB_CORRUPTED);
		else if (type == PC_ENTRY_FILE)
			rc = add_file(store, txn, ino, name, name_len, fa);
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("listing a directory", mrc);
	return rc < 0 ? rc : 0;
}

int pc_store_files_after(struct pc_store *store, uint64_t parent,
			 const char *after, size_t max_files,
			 uint64_t max_bytes, struct pc_chunk_ref *refs,
			 size_t max_refs, char *first, char *last)
{
	struct files_after fa = {
		.max_files = max_files,
		.max_bytes = max_bytes,
		.refs = refs,
		.max_refs = max_refs,
		.first = first,
		.last = last,
	};
	uint64_t version;
	MDB_txn *txn;
	int rc;

	first[0] = last[0] = '\0';
	if (strlen(after) > PC_NAME_MAX)
		return -ENAMETOOLONG;
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = store_repo_meta_get(store, txn, META_CURRENT, 0, &version);
	if (rc == 0 && version)
		rc = walk(store, txn, version, parent, after, &fa);
	mdb_txn_abort(txn);
	return rc < 0 ? rc : (int)fa.nrefs;
}
