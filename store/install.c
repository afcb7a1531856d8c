/*
 * install.c - switching to a new version: the manifest becomes a tree in
 * LMDB, in one write transaction that readers see all at once or not at
 * all.
 *
 * Inode numbers are what lets the kernel keep its caches across updates.
 * Each entry gets an identity: for a file or symlink the SHA-256 of its
 * path, attributes and content (chunk list or target), for a directory of
 * its path alone.  An identity seen before keeps its inode number; a new
 * one gets the next number from a persisted counter, so a number never
 * names two different things.  Directories are therefore stable for as long
 * as their path exists, which makes parent inode numbers comparable across
 * versions and lets the version switch report exactly the names whose
 * meaning changed (for the kernel's dentry invalidation).
 *
 * Two versions are retained (current and previous).  Each inode record
 * carries the last version that used it, so dropping a version is a scan
 * for records older than the new previous one.
 *
 * A rollback (peercachectl rollback) swaps the two retained versions and
 * holds the older one as current until the hold is released; it reuses the
 * tree comparison of the switch to say which names changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define NO_PARENT SIZE_MAX /* an entry directly under the root */
/* meta: be64 version, then the digest of the head accepted with it. */
#define META_HEAD_DIGEST "highest_head"
#define HEAD_DIGEST_LEN (8 + PC_HASH_LEN)

struct install {
	struct pc_store *store;
	MDB_txn *txn;
	const struct pc_manifest *m;
	uint64_t version;
	uint64_t next_ino;	/* the next inode number to hand out */
	uint64_t first_new_ino; /* numbers from here on are new in this switch */
	size_t *parent;		/* per entry: index of its parent entry */
	uint64_t *ino;		/* per entry: its inode number */
	struct pc_sha256_ctx *sha;
	uint64_t files, bytes;
};

/* ---- checking the manifest -------------------------------------------------- */

static bool entry_sane(const struct pc_entry *e)
{
	const char *slash = strrchr(e->path, '/');
	size_t name_len = strlen(slash ? slash + 1 : e->path);

	if (name_len == 0 || name_len > PC_NAME_MAX)
		return false;
	switch (e->type) {
	case PC_ENTRY_DIR:
		return true;
	case PC_ENTRY_FILE:
		return e->nchunks == 0 || e->chunks;
	case PC_ENTRY_SYMLINK:
		return e->target && strlen(e->target) == e->size &&
		       e->size <= PC_PATH_MAX;
	}
	return false;
}

/* The tree logic relies on what pc_manifest_parse() guarantees: entries
 * sorted and unique, every parent a directory listed before its children.
 * A manifest built in memory is checked here rather than trusted. */
static int resolve_parents(struct install *in)
{
	const struct pc_entry *entries = in->m->entries;

	for (size_t i = 0; i < in->m->nentries; i++) {
		const char *slash = strrchr(entries[i].path, '/');
		size_t at = NO_PARENT;

		if (!entry_sane(&entries[i]) ||
		    (i && strcmp(entries[i - 1].path, entries[i].path) >= 0))
			return -EINVAL;
		if (slash) {
			long found = pc_manifest_find(
				entries, i, entries[i].path,
				(size_t)(slash - entries[i].path));

			if (found < 0 || entries[found].type != PC_ENTRY_DIR)
				return -EINVAL;
			at = (size_t)found;
		}
		in->parent[i] = at;
	}
	return 0;
}

/* ---- writing the new tree ------------------------------------------------- */

static void sha_le(struct pc_sha256_ctx *sha, uint64_t value, size_t bytes)
{
	uint8_t buf[8];

	store_le64_put(buf, value);
	pc_sha256_update(sha, buf, bytes); /* little-endian: low bytes first */
}

static void entry_identity(struct install *in, const struct pc_entry *e,
			   struct pc_hash *out)
{
	uint8_t type = (uint8_t)e->type;

	pc_sha256_update(in->sha, &type, 1);
	pc_sha256_update(in->sha, e->path, strlen(e->path));
	if (e->type != PC_ENTRY_DIR) {
		pc_sha256_update(in->sha, "", 1);
		sha_le(in->sha, e->mode, 4);
		sha_le(in->sha, (uint64_t)e->mtime, 8);
		sha_le(in->sha, e->size, 8);
	}
	if (e->type == PC_ENTRY_FILE) {
		for (uint32_t i = 0; i < e->nchunks; i++) {
			pc_sha256_update(in->sha, e->chunks[i].hash.bytes,
					 PC_HASH_LEN);
			sha_le(in->sha, e->chunks[i].len, 4);
		}
	} else if (e->type == PC_ENTRY_SYMLINK) {
		pc_sha256_update(in->sha, e->target, (size_t)e->size);
	}
	pc_sha256_final(in->sha, out);
}

/* The inode number of @identity, allocating one if it is new. */
static int identity_ino(struct install *in, const struct pc_hash *identity,
			uint64_t *ino)
{
	MDB_val key = { PC_HASH_LEN, (void *)identity->bytes }, val;
	uint8_t buf[8];
	int rc;

	rc = store_mdb_error(
		"reading the inode map",
		mdb_get(in->txn, in->store->dbi.idmap, &key, &val));
	if (rc == 0) {
		if (val.mv_size != 8)
			return store_mdb_error("decoding the inode map",
					       MDB_CORRUPTED);
		*ino = store_be64_get(val.mv_data);
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	*ino = in->next_ino++;
	store_be64_put(buf, *ino);
	val.mv_size = sizeof(buf);
	val.mv_data = buf;
	return store_mdb_error(
		"writing the inode map",
		mdb_put(in->txn, in->store->dbi.idmap, &key, &val, 0));
}

static int put_inode(struct install *in, uint64_t ino,
		     const struct store_inode_rec *rec)
{
	size_t len = store_inode_rec_len(rec);
	uint8_t buf[8];
	MDB_val key = { sizeof(buf), buf }, val = { len, NULL };
	int rc;

	if (len == 0)
		return -EINVAL;
	store_be64_put(buf, ino);
	/* MDB_RESERVE: encode straight into the page, no temporary copy. */
	rc = store_mdb_error("writing an inode",
			     mdb_put(in->txn, in->store->dbi.inodes, &key, &val,
				     MDB_RESERVE));
	if (rc == 0)
		store_inode_encode(rec, val.mv_data);
	return rc;
}

static int put_dirent(struct install *in, uint64_t parent, const char *name,
		      uint64_t ino, enum pc_entry_type type)
{
	uint8_t kbuf[STORE_DIRENT_KEY_MAX], vbuf[STORE_DIRENT_VAL_LEN];
	MDB_val key = { 0, kbuf }, val = { sizeof(vbuf), vbuf };

	key.mv_size =
		store_dirent_key(in->version, parent, name, strlen(name), kbuf);
	store_dirent_val(ino, type, vbuf);
	return store_mdb_error(
		"writing a directory entry",
		mdb_put(in->txn, in->store->dbi.dirents, &key, &val, 0));
}

static int put_dirattr(struct install *in, uint64_t ino, uint32_t mode,
		       int64_t mtime)
{
	uint8_t kbuf[STORE_DIRATTR_KEY_LEN], vbuf[STORE_DIRATTR_VAL_LEN];
	MDB_val key = { sizeof(kbuf), kbuf }, val = { sizeof(vbuf), vbuf };

	store_key_pair(in->version, ino, kbuf);
	store_dirattr_val(mode, mtime, vbuf);
	return store_mdb_error(
		"writing directory attributes",
		mdb_put(in->txn, in->store->dbi.dirattr, &key, &val, 0));
}

static int put_root(struct install *in)
{
	struct store_inode_rec rec = {
		.type = PC_ENTRY_DIR,
		.mode = in->m->root_mode,
		.mtime = in->m->root_mtime,
		.parent = PC_ROOT_INO,
		.last_version = in->version,
	};
	int rc = put_inode(in, PC_ROOT_INO, &rec);

	if (rc == 0)
		rc = put_dirattr(in, PC_ROOT_INO, in->m->root_mode,
				 in->m->root_mtime);
	return rc;
}

static int put_entry(struct install *in, size_t i)
{
	const struct pc_entry *e = &in->m->entries[i];
	const char *slash = strrchr(e->path, '/');
	struct store_inode_rec rec = {
		.type = e->type,
		.mode = e->mode,
		.mtime = e->mtime,
		.size = e->type == PC_ENTRY_DIR ? 0 : e->size,
		.parent = in->parent[i] == NO_PARENT ? PC_ROOT_INO
						     : in->ino[in->parent[i]],
		.last_version = in->version,
		.nchunks = e->type == PC_ENTRY_FILE ? e->nchunks : 0,
		.chunks = e->chunks,
		.target = e->target,
	};
	int rc;

	entry_identity(in, e, &rec.identity);
	rc = identity_ino(in, &rec.identity, &in->ino[i]);
	if (rc == 0)
		rc = put_inode(in, in->ino[i], &rec);
	if (rc == 0)
		rc = put_dirent(in, rec.parent, slash ? slash + 1 : e->path,
				in->ino[i], e->type);
	if (rc == 0 && e->type == PC_ENTRY_DIR)
		rc = put_dirattr(in, in->ino[i], e->mode, e->mtime);
	if (e->type == PC_ENTRY_FILE) {
		in->files++;
		in->bytes += e->size;
	}
	return rc;
}

static int put_version(struct install *in, const struct pc_head *head)
{
	struct pc_store_version v = {
		.version = head->version,
		.created = head->created,
		.expires = head->expires,
		.accepted = time(NULL),
		.manifest = head->manifest,
		.manifest_size = head->manifest_size,
		.root_mode = in->m->root_mode,
		.root_mtime = in->m->root_mtime,
		.files = in->files,
		.bytes = in->bytes,
	};
	uint8_t kbuf[8], vbuf[STORE_VERSION_REC_LEN];
	MDB_val key = { sizeof(kbuf), kbuf }, val = { sizeof(vbuf), vbuf };

	memcpy(v.name, head->name, sizeof(v.name));
	v.name[PC_REPO_NAME_MAX] = '\0';
	store_be64_put(kbuf, v.version);
	store_version_encode(&v, vbuf);
	return store_mdb_error(
		"writing a version record",
		mdb_put(in->txn, in->store->dbi.versions, &key, &val, 0));
}

/* ---- the names that changed ------------------------------------------------- */

/* A cursor over the dirents of one version. */
struct version_walk {
	MDB_cursor *cursor;
	uint8_t prefix[8];
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

static int walk_start(struct install *in, struct version_walk *w,
		      uint64_t version)
{
	int rc;

	memset(w, 0, sizeof(*w));
	rc = store_mdb_error(
		"comparing trees",
		mdb_cursor_open(in->txn, in->store->dbi.dirents, &w->cursor));
	if (rc < 0)
		return rc;
	store_be64_put(w->prefix, version);
	w->key.mv_size = sizeof(w->prefix);
	w->key.mv_data = w->prefix;
	if (version == 0)
		return 0; /* the empty tree before the first install */
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

/*
 * Every (parent, name) whose child differs between @old_version and the
 * new one, by merging the two sorted dirent ranges.  A name added under a
 * directory that is new in this switch is left out: the kernel has never
 * seen that directory, so it holds no dentries under it.
 */
static int diff_trees(struct install *in, uint64_t old_version,
		      struct pc_store_changes *changes)
{
	struct version_walk old, new;
	size_t cap = 0;
	int rc, c;

	rc = walk_start(in, &old, old_version);
	if (rc == 0)
		rc = walk_start(in, &new, in->version);
	while (rc == 0 && (old.valid || new.valid)) {
		c = !old.valid	 ? 1
		    : !new.valid ? -1
				 : compare_names(&old.key, &new.key);
		if (c < 0) {
			rc = add_change(changes, &cap, &old.key);
		} else if (c > 0) {
			if (store_be64_get((uint8_t *)new.key.mv_data + 8) <
			    in->first_new_ino)
				rc = add_change(changes, &cap, &new.key);
		} else if (!same_child(&old.val, &new.val)) {
			rc = add_change(changes, &cap, &new.key);
		}
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

/* ---- dropping old versions -------------------------------------------------- */

/* Deletes every key of @dbi that starts with @prefix. */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix,
			 size_t len)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	int rc, mrc;

	rc = store_mdb_error("dropping an old version",
			     mdb_cursor_open(txn, dbi, &cursor));
	if (rc < 0)
		return rc;
	for (;;) {
		/* Seek afresh after each delete rather than rely on where a
		 * cursor stands once its item is gone. */
		key.mv_size = len;
		key.mv_data = (void *)prefix;
		mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
		if (mrc != 0 || key.mv_size < len ||
		    memcmp(key.mv_data, prefix, len) != 0)
			break;
		mrc = mdb_cursor_del(cursor, 0);
		if (mrc != 0)
			break;
	}
	mdb_cursor_close(cursor);
	return mrc == MDB_NOTFOUND
		       ? 0
		       : store_mdb_error("dropping an old version", mrc);
}

/* Removes the trees and records of versions older than @keep_from. */
static int drop_versions(struct install *in, uint64_t keep_from)
{
	uint8_t prefix[8];
	MDB_val key = { sizeof(prefix), prefix }, val;
	MDB_cursor *cursor;
	uint64_t version;
	int rc, mrc;

	for (;;) {
		rc = store_mdb_error("dropping an old version",
				     mdb_cursor_open(in->txn,
						     in->store->dbi.versions,
						     &cursor));
		if (rc < 0)
			return rc;
		mrc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
		version = mrc == 0 && key.mv_size == 8
				  ? store_be64_get(key.mv_data)
				  : keep_from;
		if (mrc == 0 && version < keep_from)
			mrc = mdb_cursor_del(cursor, 0);
		mdb_cursor_close(cursor);
		if (mrc != 0 && mrc != MDB_NOTFOUND)
			return store_mdb_error("dropping an old version", mrc);
		if (mrc == MDB_NOTFOUND || version >= keep_from)
			return 0;
		store_be64_put(prefix, version);
		rc = delete_prefix(in->txn, in->store->dbi.dirents, prefix, 8);
		if (rc == 0)
			rc = delete_prefix(in->txn, in->store->dbi.dirattr,
					   prefix, 8);
		if (rc < 0)
			return rc;
	}
}

struct stale_inode {
	uint64_t ino;
	struct pc_hash identity;
};

/* Inodes that no retained version uses any more, collected first so that
 * the scan does not delete under its own cursor. */
static int find_stale_inodes(struct install *in, uint64_t keep_from,
			     struct stale_inode **out, size_t *count)
{
	struct store_inode_rec rec;
	struct stale_inode *grown;
	MDB_cursor *cursor;
	MDB_val key, val;
	size_t cap = 0;
	int rc, mrc;

	rc = store_mdb_error(
		"scanning inodes",
		mdb_cursor_open(in->txn, in->store->dbi.inodes, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
	     mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (key.mv_size != 8 || store_inode_decode(&val, &rec) < 0 ||
		    rec.last_version >= keep_from)
			continue;
		if (*count == cap) {
			cap = cap ? 2 * cap : 64;
			grown = realloc(*out, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				break;
			}
			*out = grown;
		}
		(*out)[*count].ino = store_be64_get(key.mv_data);
		(*out)[*count].identity = rec.identity;
		(*count)++;
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("scanning inodes", mrc);
	return rc;
}

static int drop_inodes(struct install *in, uint64_t keep_from)
{
	struct stale_inode *stale = NULL;
	size_t count = 0;
	uint8_t buf[8];
	MDB_val key, val;
	int rc;

	rc = find_stale_inodes(in, keep_from, &stale, &count);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		if (stale[i].ino == PC_ROOT_INO)
			continue;
		store_be64_put(buf, stale[i].ino);
		key.mv_size = sizeof(buf);
		key.mv_data = buf;
		rc = store_mdb_error(
			"dropping an inode",
			mdb_del(in->txn, in->store->dbi.inodes, &key, NULL));
		key.mv_size = PC_HASH_LEN;
		key.mv_data = stale[i].identity.bytes;
		if (rc == 0)
			rc = store_mdb_error("dropping an inode",
					     mdb_get(in->txn,
						     in->store->dbi.idmap, &key,
						     &val));
		/* Only the mapping to this very inode goes. */
		if (rc == 0 && val.mv_size == 8 &&
		    store_be64_get(val.mv_data) == stale[i].ino)
			rc = store_mdb_error("dropping an inode",
					     mdb_del(in->txn,
						     in->store->dbi.idmap, &key,
						     NULL));
		if (rc == -ENOENT)
			rc = 0;
	}
	free(stale);
	return rc;
}

/* ---- the head's digest -------------------------------------------------------- */

static bool digest_known(const struct pc_hash *digest)
{
	static const struct pc_hash zero;

	return !pc_hash_equal(digest, &zero);
}

static int put_head_digest(struct install *in, const struct pc_head *head)
{
	uint8_t buf[HEAD_DIGEST_LEN];
	MDB_val key = { strlen(META_HEAD_DIGEST), (void *)META_HEAD_DIGEST };
	MDB_val val = { sizeof(buf), buf };

	/* A head built in memory has none; a record left for an older
	 * version names that version, so it is never taken for this one. */
	if (!digest_known(&head->digest))
		return 0;
	store_be64_put(buf, head->version);
	memcpy(buf + 8, head->digest.bytes, PC_HASH_LEN);
	return store_mdb_error(
		"recording the head",
		mdb_put(in->txn, in->store->dbi.meta, &key, &val, 0));
}

int pc_store_head_digest(struct pc_store *store, uint64_t version,
			 struct pc_hash *out)
{
	MDB_val key = { strlen(META_HEAD_DIGEST), (void *)META_HEAD_DIGEST };
	MDB_val val;
	MDB_txn *txn;
	int rc = store_txn_begin(store, MDB_RDONLY, &txn);

	if (rc < 0)
		return rc;
	rc = store_mdb_error("reading the head record",
			     mdb_get(txn, store->dbi.meta, &key, &val));
	if (rc == 0 && (val.mv_size != HEAD_DIGEST_LEN ||
			store_be64_get(val.mv_data) != version))
		rc = -ENOENT;
	if (rc == 0)
		memcpy(out->bytes, (const uint8_t *)val.mv_data + 8,
		       PC_HASH_LEN);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- the switch -------------------------------------------------------------- */

static int switch_versions(struct install *in, const struct pc_head *head,
			   struct pc_store_changes *changes)
{
	uint64_t highest, current, held;
	struct pc_store *store = in->store;
	MDB_txn *txn = in->txn;
	int rc;

	rc = store_meta_get(store, txn, META_HIGHEST, 0, &highest);
	if (rc == 0 && head->version <= highest)
		return -ESTALE;
	/* Rollback: nothing replaces a held version until it is released. */
	if (rc == 0)
		rc = store_meta_get(store, txn, META_HELD, 0, &held);
	if (rc == 0 && held)
		return -EBUSY;
	if (rc == 0)
		rc = store_meta_get(store, txn, META_CURRENT, 0, &current);
	if (rc == 0)
		rc = store_meta_get(store, txn, META_NEXT_INO, STORE_FIRST_INO,
				    &in->next_ino);
	in->first_new_ino = in->next_ino;
	if (rc == 0)
		rc = put_root(in);
	for (size_t i = 0; rc == 0 && i < in->m->nentries; i++)
		rc = put_entry(in, i);
	if (rc == 0)
		rc = put_version(in, head);
	if (rc == 0 && changes)
		rc = diff_trees(in, current, changes);
	if (rc == 0 && current)
		rc = store_meta_put(store, txn, META_PREVIOUS, current);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_CURRENT, in->version);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_HIGHEST, in->version);
	if (rc == 0)
		rc = put_head_digest(in, head);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_NEXT_INO, in->next_ino);
	/* What neither the new current nor the new previous uses goes. */
	if (rc == 0)
		rc = drop_versions(in, current ? current : in->version);
	if (rc == 0)
		rc = drop_inodes(in, current ? current : in->version);
	return rc;
}

void pc_store_changes_free(struct pc_store_changes *changes)
{
	if (!changes)
		return;
	for (size_t i = 0; i < changes->count; i++)
		free(changes->items[i].name);
	free(changes->items);
	changes->items = NULL;
	changes->count = 0;
}

int pc_store_install(struct pc_store *store, const struct pc_head *head,
		     const struct pc_manifest *m,
		     struct pc_store_changes *changes)
{
	struct install in = { .store = store,
			      .m = m,
			      .version = head->version };
	int rc;

	if (changes)
		memset(changes, 0, sizeof(*changes));
	if (store->readonly)
		return -EROFS;
	in.parent = calloc(m->nentries ? m->nentries : 1, sizeof(*in.parent));
	in.ino = calloc(m->nentries ? m->nentries : 1, sizeof(*in.ino));
	in.sha = pc_sha256_new();
	rc = in.parent && in.ino && in.sha ? 0 : -ENOMEM;
	if (rc == 0)
		rc = resolve_parents(&in);
	if (rc == 0)
		rc = store_txn_begin(store, 0, &in.txn);
	if (rc < 0)
		goto out;
	rc = switch_versions(&in, head, changes);
	if (rc < 0) {
		mdb_txn_abort(in.txn);
		goto out;
	}
	rc = store_txn_commit(in.txn, "installing a version");
	/* MDB_NOMETASYNC left the meta page unsynced: a version switch must
	 * survive a power cut (rollback protection depends on it). */
	if (rc == 0 && mdb_env_sync(store->env, 1) != 0)
		store_log(store, PC_LOG_WARN,
			  "version %llu is installed but not synced",
			  (unsigned long long)in.version);
out:
	if (rc < 0)
		pc_store_changes_free(changes);
	free(in.parent);
	free(in.ino);
	pc_sha256_free(in.sha);
	return rc;
}

/* ---- rollback and its hold ---------------------------------------------------- */

/*
 * Makes @to the current version and @from the previous one, with every
 * name that differs between them in @changes, and sets the hold to @held.
 * Both trees are retained, so nothing is dropped.  An added name is
 * always reported, even under a directory new to the kernel (harmless).
 */
static int swap_retained(struct install *in, uint64_t from, uint64_t to,
			 uint64_t held, struct pc_store_changes *changes)
{
	int rc = 0;

	in->version = to;
	in->first_new_ino = UINT64_MAX;
	if (changes)
		rc = diff_trees(in, from, changes);
	if (rc == 0)
		rc = store_meta_put(in->store, in->txn, META_CURRENT, to);
	if (rc == 0)
		rc = store_meta_put(in->store, in->txn, META_PREVIOUS, from);
	if (rc == 0)
		rc = store_meta_put(in->store, in->txn, META_HELD, held);
	return rc;
}

/* One write transaction for a rollback (@rollback) or a release. */
static int change_hold(struct pc_store *store, bool rollback,
		       struct pc_store_changes *changes)
{
	struct install in = { .store = store };
	uint64_t current, previous, held;
	int rc;

	if (changes)
		memset(changes, 0, sizeof(*changes));
	if (store->readonly)
		return -EROFS;
	rc = store_txn_begin(store, 0, &in.txn);
	if (rc < 0)
		return rc;
	rc = store_meta_get(store, in.txn, META_CURRENT, 0, &current);
	if (rc == 0)
		rc = store_meta_get(store, in.txn, META_PREVIOUS, 0, &previous);
	if (rc == 0)
		rc = store_meta_get(store, in.txn, META_HELD, 0, &held);
	if (rc < 0)
		goto abort;
	if (rollback) {
		rc = held ? -EALREADY : !previous || !current ? -ENOENT : 0;
		if (rc == 0)
			rc = swap_retained(&in, current, previous, previous,
					   changes);
	} else if (!held) {
		goto abort; /* nothing held: nothing to do */
	} else if (previous > current) {
		rc = swap_retained(&in, current, previous, 0, changes);
	} else {
		rc = store_meta_put(store, in.txn, META_HELD, 0);
	}
	if (rc < 0)
		goto abort;
	rc = store_txn_commit(in.txn, rollback ? "rolling back" : "releasing");
	/* Like an install: a restart must find the switch and the hold. */
	if (rc == 0 && mdb_env_sync(store->env, 1) != 0)
		store_log(store, PC_LOG_WARN,
			  "the hold is changed but not synced");
	if (rc == 0)
		store_log(store, PC_LOG_INFO,
			  rollback ? "rolled back to version %llu, held"
				   : "hold on version %llu released",
			  (unsigned long long)(rollback ? previous : held));
	if (rc < 0)
		pc_store_changes_free(changes);
	return rc;
abort:
	mdb_txn_abort(in.txn);
	pc_store_changes_free(changes);
	return rc;
}

int pc_store_rollback(struct pc_store *store, struct pc_store_changes *changes)
{
	return change_hold(store, true, changes);
}

int pc_store_release_hold(struct pc_store *store,
			  struct pc_store_changes *changes)
{
	return change_hold(store, false, changes);
}

uint64_t pc_store_held_version(struct pc_store *store)
{
	uint64_t held = 0;

	if (store_meta_read(store, META_HELD, 0, &held) < 0)
		return 0;
	return held;
}
