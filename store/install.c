/*
 * install.c - switching to a new version: the manifest becomes a tree in
 * LMDB, which readers see all at once or not at all.
 *
 * The tree is written as the manifest is read (pc_manifest_stream), in
 * write transactions of INSTALL_BATCH entries: a version of a million
 * entries must not hold its whole tree, nor a million dirty LMDB pages,
 * in memory (it took 400 MB, and LMDB keeps freed dirty pages for
 * reuse).  That is safe because readers find a version's tree only
 * through the "current" record: the new version's dirents are keyed by
 * its number, its new inodes by numbers nothing current names, and an
 * inode it shares with the current version is rewritten with the same
 * content.  The last transaction writes the version record and switches
 * "current"; what neither retained version needs any more is then dropped,
 * in transactions of STORE_DROP_BATCH records too.  An install cut short
 * (a crash, a bad entry halfway) leaves part of a tree under a version
 * number that is not current: the next install of that number clears it
 * first, and a later one's drop takes it with the older versions.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "install.h"

/* meta: be64 version, then the digest of the head accepted with it. */
#define META_HEAD_DIGEST "highest_head"
#define HEAD_DIGEST_LEN (8 + PC_HASH_LEN)

/* Entries written per transaction, and records dropped per transaction:
 * each bounds the dirty pages (and LMDB's cache of them) to a few MB. */
#define INSTALL_BATCH 2048
/* The index's pages a batch touched are let go of this often: the kernel
 * maps 64 KiB around every page a lookup faults in, and identities are
 * looked up at random. */
#define TRIM_EVERY 64

/* Where the entries come from: a parsed manifest or a stream. */
struct entry_source {
	/* 1 with *@e (borrowed until the next call), 0 at the end, < 0
	 * with @why. */
	int (*next)(void *arg, const struct pc_entry **e, char *why,
		    size_t whylen);
	void *arg;
	uint32_t root_mode;
	int64_t root_mtime;
	/* Between two transactions: the caller may let go of what it has
	 * read (NULL: nothing to do). */
	void (*between)(void *arg);
	void *between_arg;
};

struct install {
	struct pc_store *store;
	MDB_txn *txn;
	const struct entry_source *src;
	uint64_t version;
	uint64_t current;	/* current when the install began; 0: none */
	uint64_t next_ino;	/* the next inode number to hand out */
	uint64_t first_new_ino; /* numbers from here on are new in this switch */
	struct pc_sha256_ctx *sha;
	uint64_t files, bytes;
	size_t in_txn; /* entries written in this transaction */
	/* The parent directory of the last entry, so that its siblings need
	 * no lookup. */
	char parent_path[PC_PATH_MAX + 1];
	size_t parent_len;
	uint64_t parent_ino;
	bool have_parent;
	char *why; /* the reason of a refused entry */
	size_t whylen;
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

/* The child @name (@len bytes) of directory @dir in the tree being
 * written: its inode, if it is a directory. */
static int lookup_dir(struct install *in, uint64_t dir, const char *name,
		      size_t len, uint64_t *ino)
{
	uint8_t kbuf[STORE_DIRENT_KEY_MAX];
	MDB_val key = { 0, kbuf }, val;
	enum pc_entry_type type;
	int rc;

	if (len == 0 || len > PC_NAME_MAX)
		return -EINVAL;
	key.mv_size = store_dirent_key(in->version, dir, name, len, kbuf);
	rc = mdb_get(in->txn, in->store->repo.dbi.dirents, &key, &val);
	if (rc == MDB_NOTFOUND)
		return -EINVAL;
	rc = store_mdb_error("reading a directory entry", rc);
	if (rc == 0)
		rc = store_dirent_val_decode(&val, ino, &type);
	if (rc == 0 && type != PC_ENTRY_DIR)
		rc = -EINVAL;
	return rc;
}

/*
 * The inode of @e's parent directory in the tree written so far: every
 * parent must be a directory listed before its children (sorted input,
 * which the manifest stream checks).  Walked from the root, once per
 * directory: entries of one directory follow each other.
 */
static int resolve_parent(struct install *in, const struct pc_entry *e,
			  uint64_t *parent)
{
	const char *slash = strrchr(e->path, '/');
	size_t len = slash ? (size_t)(slash - e->path) : 0;
	uint64_t ino = PC_ROOT_INO;
	int rc = 0;

	if (!slash) {
		*parent = PC_ROOT_INO;
		return 0;
	}
	if (in->have_parent && len == in->parent_len &&
	    memcmp(e->path, in->parent_path, len) == 0) {
		*parent = in->parent_ino;
		return 0;
	}
	for (size_t start = 0, i = 0; rc == 0 && i <= len; i++) {
		if (i < len && e->path[i] != '/')
			continue;
		rc = lookup_dir(in, ino, e->path + start, i - start, &ino);
		start = i + 1;
	}
	if (rc == -EINVAL)
		snprintf(in->why, in->whylen,
			 "the parent directory of '%s' is not in the manifest "
			 "before it",
			 e->path);
	if (rc < 0)
		return rc;
	memcpy(in->parent_path, e->path, len);
	in->parent_len = len;
	in->parent_ino = ino;
	in->have_parent = true;
	*parent = ino;
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
		mdb_get(in->txn, in->store->repo.dbi.idmap, &key, &val));
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
		mdb_put(in->txn, in->store->repo.dbi.idmap, &key, &val, 0));
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
			     mdb_put(in->txn, in->store->repo.dbi.inodes, &key,
				     &val, MDB_RESERVE));
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
		mdb_put(in->txn, in->store->repo.dbi.dirents, &key, &val, 0));
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
		mdb_put(in->txn, in->store->repo.dbi.dirattr, &key, &val, 0));
}

static int put_root(struct install *in)
{
	struct store_inode_rec rec = {
		.type = PC_ENTRY_DIR,
		.mode = in->src->root_mode,
		.mtime = in->src->root_mtime,
		.parent = PC_ROOT_INO,
		.last_version = in->version,
	};
	int rc = put_inode(in, PC_ROOT_INO, &rec);

	if (rc == 0)
		rc = put_dirattr(in, PC_ROOT_INO, in->src->root_mode,
				 in->src->root_mtime);
	return rc;
}

static int put_entry(struct install *in, const struct pc_entry *e)
{
	const char *slash = strrchr(e->path, '/');
	struct store_inode_rec rec = {
		.type = e->type,
		.mode = e->mode,
		.mtime = e->mtime,
		.size = e->type == PC_ENTRY_DIR ? 0 : e->size,
		.last_version = in->version,
		.nchunks = e->type == PC_ENTRY_FILE ? e->nchunks : 0,
		.chunks = e->chunks,
		.target = e->target,
	};
	uint64_t ino = 0;
	int rc;

	if (!entry_sane(e)) {
		snprintf(in->why, in->whylen, "entry '%s' is not valid",
			 e->path);
		return -EINVAL;
	}
	rc = resolve_parent(in, e, &rec.parent);
	if (rc < 0)
		return rc;
	entry_identity(in, e, &rec.identity);
	rc = identity_ino(in, &rec.identity, &ino);
	if (rc == 0)
		rc = put_inode(in, ino, &rec);
	if (rc == 0)
		rc = put_dirent(in, rec.parent, slash ? slash + 1 : e->path,
				ino, e->type);
	if (rc == 0 && e->type == PC_ENTRY_DIR)
		rc = put_dirattr(in, ino, e->mode, e->mtime);
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
		.root_mode = in->src->root_mode,
		.root_mtime = in->src->root_mtime,
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
		mdb_put(in->txn, in->store->repo.dbi.versions, &key, &val, 0));
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
		mdb_put(in->txn, in->store->repo.dbi.meta, &key, &val, 0));
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
			     mdb_get(txn, store->repo.dbi.meta, &key, &val));
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

/* The checks of a new version, in @txn: higher than every version ever
 * accepted, and no version held.  The current version into @current. */
static int may_install(struct install *in, MDB_txn *txn, uint64_t *current)
{
	uint64_t highest, held;
	int rc = store_repo_meta_get(in->store, txn, META_HIGHEST, 0, &highest);

	if (rc == 0 && in->version <= highest)
		return -ESTALE;
	/* Rollback: nothing replaces a held version until it is released. */
	if (rc == 0)
		rc = store_repo_meta_get(in->store, txn, META_HELD, 0, &held);
	if (rc == 0 && held)
		return -EBUSY;
	if (rc == 0)
		rc = store_repo_meta_get(in->store, txn, META_CURRENT, 0,
					 current);
	return rc;
}

/* Commits what is written so far (with the inode counter, so that no
 * number is handed out twice) and begins the next transaction. */
static int checkpoint(struct install *in)
{
	int rc = store_repo_meta_put(in->store, in->txn, META_NEXT_INO,
				     in->next_ino);

	if (rc == 0)
		rc = store_txn_commit(in->txn, "installing a version");
	else
		mdb_txn_abort(in->txn);
	in->txn = NULL;
	if (rc < 0)
		return rc;
	store_map_trim(in->store);
	if (in->src->between)
		in->src->between(in->src->between_arg);
	in->in_txn = 0;
	return store_txn_begin(in->store, 0, &in->txn);
}

/* Every entry of the source into the new version's tree. */
static int write_tree(struct install *in)
{
	const struct pc_entry *e;
	int rc = put_root(in);

	while (rc == 0 && (rc = in->src->next(in->src->arg, &e, in->why,
					      in->whylen)) > 0) {
		rc = put_entry(in, e);
		if (rc == 0 && ++in->in_txn == INSTALL_BATCH)
			rc = checkpoint(in);
		else if (rc == 0 && in->in_txn % TRIM_EVERY == 0)
			store_map_trim(in->store);
	}
	return rc;
}

/* The last transaction: the version record, the names that changed, and
 * "current" (readers see the new tree from its commit on). */
static int switch_versions(struct install *in, const struct pc_head *head,
			   struct pc_store_changes *changes)
{
	struct pc_store *store = in->store;
	uint64_t current = in->current, now;
	int rc = may_install(in, in->txn, &now); /* still: nothing raced it */

	if (rc == 0 && now != current)
		rc = -ESTALE;
	if (rc == 0)
		rc = put_version(in, head);
	if (rc == 0 && changes)
		rc = store_diff_trees(store, in->txn, current, in->version,
				      in->first_new_ino, changes);
	if (rc == 0 && current)
		rc = store_repo_meta_put(store, in->txn, META_PREVIOUS,
					 current);
	if (rc == 0)
		rc = store_repo_meta_put(store, in->txn, META_CURRENT,
					 in->version);
	if (rc == 0)
		rc = store_repo_meta_put(store, in->txn, META_HIGHEST,
					 in->version);
	if (rc == 0)
		rc = put_head_digest(in, head);
	if (rc == 0)
		rc = store_repo_meta_put(store, in->txn, META_NEXT_INO,
					 in->next_ino);
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

/* Installs the version of @head from @src (see pc_store_install_stream). */
static int install_from(struct pc_store *store, const struct pc_head *head,
			const struct entry_source *src,
			struct pc_store_changes *changes, char *why,
			size_t whylen)
{
	struct install in = { .store = store,
			      .src = src,
			      .version = head->version,
			      .why = why,
			      .whylen = whylen };
	MDB_txn *txn;
	uint64_t current;
	int rc;

	if (changes)
		memset(changes, 0, sizeof(*changes));
	if (store->base->readonly)
		return -EROFS;
	/* Refused before anything is written. */
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = may_install(&in, txn, &current);
	mdb_txn_abort(txn);
	if (rc == 0)
		rc = store_clear_version(store, in.version);
	in.sha = pc_sha256_new();
	if (rc == 0 && !in.sha)
		rc = -ENOMEM;
	if (rc == 0)
		rc = store_txn_begin(store, 0, &in.txn);
	if (rc == 0)
		rc = may_install(&in, in.txn, &in.current);
	if (rc == 0)
		rc = store_repo_meta_get(store, in.txn, META_NEXT_INO,
					 STORE_FIRST_INO, &in.next_ino);
	in.first_new_ino = in.next_ino;
	if (rc == 0)
		rc = write_tree(&in);
	current = in.current;
	if (rc == 0)
		rc = switch_versions(&in, head, changes);
	if (rc == 0) {
		rc = store_txn_commit(in.txn, "installing a version");
		in.txn = NULL;
	}
	if (in.txn)
		mdb_txn_abort(in.txn);
	pc_sha256_free(in.sha);
	if (rc < 0) {
		pc_store_changes_free(changes);
		return rc;
	}
	/* MDB_NOMETASYNC left the meta page unsynced: a version switch must
	 * survive a power cut (rollback protection depends on it). */
	if (mdb_env_sync(store->base->env, 1) != 0)
		store_log(store, PC_LOG_WARN,
			  "version %llu is installed but not synced",
			  (unsigned long long)in.version);
	/* What neither the new current nor the new previous uses goes. */
	rc = store_drop_old(store, current ? current : in.version);
	if (rc < 0)
		store_log(store, PC_LOG_WARN,
			  "version %llu is installed, but dropping older "
			  "versions failed: %s",
			  (unsigned long long)in.version, strerror(-rc));
	store_map_trim(store);
	return 0;
}

/* An in-memory manifest as an entry source. */
struct array_source {
	const struct pc_manifest *m;
	size_t next;
};

static int array_next(void *arg, const struct pc_entry **e, char *why,
		      size_t whylen)
{
	struct array_source *a = arg;

	(void)why;
	(void)whylen;
	if (a->next == a->m->nentries)
		return 0;
	*e = &a->m->entries[a->next++];
	return 1;
}

int pc_store_install(struct pc_store *store, const struct pc_head *head,
		     const struct pc_manifest *m,
		     struct pc_store_changes *changes)
{
	struct array_source a = { m, 0 };
	struct entry_source src = { .next = array_next,
				    .arg = &a,
				    .root_mode = m->root_mode,
				    .root_mtime = m->root_mtime };
	char why[256];

	/* Order and parents: pc_manifest_parse() guarantees them; a
	 * manifest built in memory is checked here rather than trusted. */
	for (size_t i = 1; i < m->nentries; i++)
		if (strcmp(m->entries[i - 1].path, m->entries[i].path) >= 0)
			return -EINVAL;
	return install_from(store, head, &src, changes, why, sizeof(why));
}

static int stream_next(void *arg, const struct pc_entry **e, char *why,
		       size_t whylen)
{
	return pc_manifest_stream_next(arg, e, why, whylen);
}

int pc_store_install_stream(struct pc_store *store, const struct pc_head *head,
			    struct pc_manifest_stream *stream,
			    void (*between)(void *arg), void *arg,
			    struct pc_store_changes *changes, char *why,
			    size_t whylen)
{
	struct entry_source src = {
		.next = stream_next,
		.arg = stream,
		.root_mode = pc_manifest_stream_root_mode(stream),
		.root_mtime = pc_manifest_stream_root_mtime(stream),
		.between = between,
		.between_arg = arg,
	};

	why[0] = '\0';
	return install_from(store, head, &src, changes, why, whylen);
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
	if (changes)
		rc = store_diff_trees(in->store, in->txn, from, to, UINT64_MAX,
				      changes);
	if (rc == 0)
		rc = store_repo_meta_put(in->store, in->txn, META_CURRENT, to);
	if (rc == 0)
		rc = store_repo_meta_put(in->store, in->txn, META_PREVIOUS,
					 from);
	if (rc == 0)
		rc = store_repo_meta_put(in->store, in->txn, META_HELD, held);
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
	if (store->base->readonly)
		return -EROFS;
	rc = store_txn_begin(store, 0, &in.txn);
	if (rc < 0)
		return rc;
	rc = store_repo_meta_get(store, in.txn, META_CURRENT, 0, &current);
	if (rc == 0)
		rc = store_repo_meta_get(store, in.txn, META_PREVIOUS, 0,
					 &previous);
	if (rc == 0)
		rc = store_repo_meta_get(store, in.txn, META_HELD, 0, &held);
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
		rc = store_repo_meta_put(store, in.txn, META_HELD, 0);
	}
	if (rc < 0)
		goto abort;
	rc = store_txn_commit(in.txn, rollback ? "rolling back" : "releasing");
	/* Like an install: a restart must find the switch and the hold. */
	if (rc == 0 && mdb_env_sync(store->base->env, 1) != 0)
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

	if (store_repo_meta_read(store, META_HELD, 0, &held) < 0)
		return 0;
	return held;
}
