/*
 * tree.c - reading the trees of the retained versions: lookup, getattr by
 * inode number, directory listings, and the version records.
 *
 * These run on FUSE worker threads, many at once, so each call is one
 * short LMDB read transaction and copies out what it returns: nothing the
 * caller holds points into the map, and no reader ever waits for the
 * writer.  Files and symlinks are fully described by their inode record
 * (an inode number never changes meaning).  A directory keeps its inode
 * for as long as its path exists, but its mode and mtime may differ
 * between versions, so those come from the per-version "dirattr" records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The version a read means: @version, or the current one for 0.  *@out
 * is 0 when nothing was ever installed. */
static int resolve_version(struct pc_store *store, MDB_txn *txn,
			   uint64_t version, uint64_t *out)
{
	if (version) {
		*out = version;
		return 0;
	}
	return store_repo_meta_get(store, txn, META_CURRENT, 0, out);
}

static int version_get(MDB_txn *txn, MDB_dbi versions, uint64_t version,
		       struct pc_store_version *out)
{
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;
	int rc;

	store_be64_put(buf, version);
	rc = store_mdb_error("reading a version record",
			     mdb_get(txn, versions, &key, &val));
	if (rc == 0 && store_version_decode(&val, out) < 0)
		rc = store_mdb_error("decoding a version record",
				     MDB_CORRUPTED);
	return rc;
}

static int get_version(struct pc_store *store, MDB_txn *txn, uint64_t version,
		       struct pc_store_version *out)
{
	return version_get(txn, store->repo.dbi.versions, version, out);
}

/* The version named by meta @which ("current" / "previous"). */
static int read_named_version(struct pc_store *store, const char *which,
			      struct pc_store_version *out)
{
	uint64_t version;
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = store_repo_meta_get(store, txn, which, 0, &version);
	if (rc == 0)
		rc = version ? get_version(store, txn, version, out) : -ENOENT;
	mdb_txn_abort(txn);
	return rc;
}

int pc_store_current(struct pc_store *store, struct pc_store_version *out)
{
	return read_named_version(store, META_CURRENT, out);
}

int pc_store_previous(struct pc_store *store, struct pc_store_version *out)
{
	return read_named_version(store, META_PREVIOUS, out);
}

uint64_t pc_store_highest_version(struct pc_store *store)
{
	uint64_t highest = 0;

	if (store_repo_meta_read(store, META_HIGHEST, 0, &highest) < 0)
		return 0;
	return highest;
}

/* Mode and mtime of directory @ino in @version; -ENOENT if it is not a
 * directory of that version. */
static int get_dirattr(struct pc_store *store, MDB_txn *txn, uint64_t version,
		       uint64_t ino, uint32_t *mode, int64_t *mtime)
{
	uint8_t buf[STORE_DIRATTR_KEY_LEN];
	MDB_val key = { sizeof(buf), buf }, val;
	int rc;

	store_key_pair(version, ino, buf);
	rc = store_mdb_error("reading directory attributes",
			     mdb_get(txn, store->repo.dbi.dirattr, &key, &val));
	if (rc == 0 && store_dirattr_val_decode(&val, mode, mtime) < 0)
		rc = store_mdb_error("decoding directory attributes",
				     MDB_CORRUPTED);
	return rc;
}

/* The empty root shown before any version was installed. */
static void empty_root(struct pc_inode *out)
{
	memset(out, 0, sizeof(*out));
	out->ino = PC_ROOT_INO;
	out->parent = PC_ROOT_INO;
	out->type = PC_ENTRY_DIR;
	out->mode = 0755;
}

/* Directory attributes for @ino: from @version, or (0) from the current
 * version and else the previous one. */
static int dir_attrs(struct pc_store *store, MDB_txn *txn, uint64_t version,
		     struct pc_inode *out)
{
	uint64_t current, previous;
	int rc;

	if (version)
		return get_dirattr(store, txn, version, out->ino, &out->mode,
				   &out->mtime);
	rc = store_repo_meta_get(store, txn, META_CURRENT, 0, &current);
	if (rc == 0)
		rc = get_dirattr(store, txn, current, out->ino, &out->mode,
				 &out->mtime);
	if (rc != -ENOENT)
		return rc;
	rc = store_repo_meta_get(store, txn, META_PREVIOUS, 0, &previous);
	if (rc == 0)
		rc = previous ? get_dirattr(store, txn, previous, out->ino,
					    &out->mode, &out->mtime)
			      : -ENOENT;
	return rc;
}

/* Inode @ino into @out; directories take their attributes from @version
 * (0: current, else previous).  -ESTALE if no retained version has it. */
static int read_inode(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		      uint64_t version, struct pc_inode *out)
{
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val;
	struct store_inode_rec rec;
	int rc;

	memset(out, 0, sizeof(*out));
	store_be64_put(buf, ino);
	rc = store_mdb_error("reading an inode",
			     mdb_get(txn, store->repo.dbi.inodes, &key, &val));
	if (rc == -ENOENT && ino == PC_ROOT_INO) {
		empty_root(out); /* nothing installed yet */
		return 0;
	}
	if (rc == -ENOENT) /* no retained version's: open beyond it? */
		return store_held_inode(store, txn, ino, out) == 0 ? 0
								   : -ESTALE;
	if (rc < 0)
		return rc;
	if (store_inode_decode(&val, &rec) < 0)
		return store_mdb_error("decoding an inode", MDB_CORRUPTED);
	rc = store_inode_to_pc(&rec, ino, out);
	if (rc == 0 && rec.type == PC_ENTRY_DIR) {
		rc = dir_attrs(store, txn, version, out);
		if (rc == -ENOENT)
			rc = -ESTALE;
	}
	if (rc < 0)
		pc_inode_release(out);
	return rc;
}

int pc_store_inode(struct pc_store *store, uint64_t ino, struct pc_inode *out)
{
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ino == 0)
		return -ESTALE;
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = read_inode(store, txn, ino, 0, out);
	mdb_txn_abort(txn);
	return rc;
}

void pc_inode_release(struct pc_inode *inode)
{
	if (!inode)
		return;
	free(inode->chunks);
	free(inode->target);
	inode->chunks = NULL;
	inode->target = NULL;
	inode->nchunks = 0;
}

/* Why @dir has no entry we looked for in @version: -ENOENT if it is a
 * directory there, -ENOTDIR if it is not, -ESTALE if the version is not
 * retained. */
static int classify_miss(struct pc_store *store, MDB_txn *txn, uint64_t version,
			 uint64_t dir)
{
	struct pc_store_version record;
	uint32_t mode;
	int64_t mtime;
	int rc;

	rc = get_dirattr(store, txn, version, dir, &mode, &mtime);
	if (rc == 0)
		return -ENOENT;
	if (rc != -ENOENT)
		return rc;
	rc = get_version(store, txn, version, &record);
	if (rc == -ENOENT)
		return -ESTALE;
	return rc < 0 ? rc : -ENOTDIR;
}

int pc_store_lookup(struct pc_store *store, uint64_t version, uint64_t parent,
		    const char *name, struct pc_inode *out)
{
	uint8_t buf[STORE_DIRENT_KEY_MAX];
	size_t name_len = strlen(name);
	enum pc_entry_type type;
	uint64_t child = 0;
	MDB_val key, val;
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	if (name_len > PC_NAME_MAX)
		return -ENAMETOOLONG;
	if (name_len == 0 || strchr(name, '/'))
		return -ENOENT;
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = resolve_version(store, txn, version, &version);
	if (rc == 0 && version == 0) {
		/* Nothing installed: an empty root. */
		rc = parent == PC_ROOT_INO ? -ENOENT : -ENOTDIR;
		goto out;
	}
	key.mv_data = buf;
	key.mv_size = store_dirent_key(version, parent, name, name_len, buf);
	if (rc == 0)
		rc = store_mdb_error(
			"looking up a name",
			mdb_get(txn, store->repo.dbi.dirents, &key, &val));
	if (rc == -ENOENT)
		rc = classify_miss(store, txn, version, parent);
	else if (rc == 0 && store_dirent_val_decode(&val, &child, &type) < 0)
		rc = store_mdb_error("decoding an entry", MDB_CORRUPTED);
	if (rc == 0)
		rc = read_inode(store, txn, child, version, out);
out:
	mdb_txn_abort(txn);
	return rc;
}

/* Appends one entry to @out, whose capacity is *@cap. */
static int listing_add(struct pc_dir_listing *out, size_t *cap,
		       const MDB_val *key, const MDB_val *val)
{
	struct pc_dirent *grown, *entry;
	size_t name_len = key->mv_size - STORE_DIRENT_PREFIX_LEN;

	if (out->count == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		grown = realloc(out->entries, *cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		out->entries = grown;
	}
	entry = &out->entries[out->count];
	if (store_dirent_val_decode(val, &entry->ino, &entry->type) < 0)
		return store_mdb_error("decoding an entry", MDB_CORRUPTED);
	entry->name = strndup(
		(const char *)key->mv_data + STORE_DIRENT_PREFIX_LEN, name_len);
	if (!entry->name)
		return -ENOMEM;
	out->count++;
	return 0;
}

/* Every entry of (@version, @dir), in name order. */
static int list_entries(struct pc_store *store, MDB_txn *txn, uint64_t version,
			uint64_t dir, struct pc_dir_listing *out)
{
	uint8_t prefix[STORE_DIRENT_PREFIX_LEN];
	MDB_val key = { sizeof(prefix), prefix }, val;
	MDB_cursor *cursor;
	size_t cap = 0;
	int rc, mrc;

	store_key_pair(version, dir, prefix);
	rc = store_mdb_error(
		"listing a directory",
		mdb_cursor_open(txn, store->repo.dbi.dirents, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
	     mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (key.mv_size <= sizeof(prefix) ||
		    memcmp(key.mv_data, prefix, sizeof(prefix)) != 0)
			break;
		rc = listing_add(out, &cap, &key, &val);
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("listing a directory", mrc);
	return rc;
}

/* A directory the current version does not have: -EAGAIN with *@version
 * the previous one if it is there, else its held listing into @out (0),
 * else -ENOTDIR or -ESTALE. */
static int older_listing(struct pc_store *store, MDB_txn *txn, uint64_t dir,
			 uint64_t *version, struct pc_dir_listing *out)
{
	uint64_t previous = 0;
	uint32_t mode;
	int64_t mtime;
	int rc;

	rc = store_repo_meta_get(store, txn, META_PREVIOUS, 0, &previous);
	if (rc == 0 && previous &&
	    get_dirattr(store, txn, previous, dir, &mode, &mtime) == 0) {
		*version = previous;
		return -EAGAIN;
	}
	if (rc == 0 && store_held_list(store, txn, dir, out) == 0)
		return 0;
	return rc < 0 ? rc : -ENOTDIR;
}

int pc_store_list(struct pc_store *store, uint64_t version, uint64_t dir,
		  struct pc_dir_listing *out)
{
	uint32_t mode;
	int64_t mtime;
	MDB_txn *txn;
	bool newest;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	newest = version == 0;
	rc = resolve_version(store, txn, version, &version);
	if (rc == 0 && version == 0) {
		rc = dir == PC_ROOT_INO ? 0 : -ENOTDIR; /* the empty root */
		goto out;
	}
	if (rc == 0) {
		rc = get_dirattr(store, txn, version, dir, &mode, &mtime);
		if (rc == -ENOENT && newest) {
			rc = older_listing(store, txn, dir, &version, out);
			if (rc != -EAGAIN)
				goto out; /* held, or not there at all */
			rc = 0;
		} else if (rc == -ENOENT) {
			rc = classify_miss(store, txn, version, dir) == -ESTALE
				     ? -ESTALE
				     : -ENOTDIR;
		}
	}
	if (rc == 0)
		rc = list_entries(store, txn, version, dir, out);
out:
	mdb_txn_abort(txn);
	if (rc < 0)
		pc_dir_listing_free(out);
	return rc;
}

void pc_dir_listing_free(struct pc_dir_listing *listing)
{
	if (!listing)
		return;
	for (size_t i = 0; i < listing->count; i++)
		free(listing->entries[i].name);
	free(listing->entries);
	listing->entries = NULL;
	listing->count = 0;
}

int store_retained_of(MDB_txn *txn, const struct store_repo_dbis *dbi,
		      struct pc_hash *out)
{
	static const char *const which[2] = { META_CURRENT, META_PREVIOUS };
	struct pc_store_version v;
	uint64_t version;
	int count = 0, rc;

	for (int i = 0; i < 2; i++) {
		rc = store_meta_get_in(txn, dbi->meta, which[i], 0, &version);
		if (rc == 0 && version)
			rc = version_get(txn, dbi->versions, version, &v);
		else if (rc == 0)
			continue;
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		out[count++] = v.manifest;
	}
	return count;
}
