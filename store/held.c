/*
 * held.c - the inode records that open files and directories need after
 * their version is no longer retained.
 *
 * The store keeps the trees of two versions (current and previous).  A
 * file held open across two more publishes keeps reading in the process
 * that opened it (fs/ copied its chunk list at open), but the next
 * process after a restart or a crash finds the kernel's handle naming an
 * inode number that no retained version has: it cannot open it again,
 * and the reader gets EIO.  So an inode that is open when its version is
 * dropped is kept here ("held"): its record, and for a directory the
 * listing it had.  pc_store_inode() and pc_store_list() fall back to it.
 *
 * What is open is what fs/ tells the store (pc_store_inode_hold, one count
 * per handle; in memory).  Which held records may go:
 *   - one that an open handle of this process holds: none (tied);
 *   - one that none holds, in a process that knows every handle of the
 *     mount (it mounted it, or took it over with the whole list of open
 *     files): a file's goes at once; a directory's (never in that list)
 *     ages out;
 *   - in a process that resumed after a crash (or was handed an
 *     incomplete list): it cannot know which handles the kernel still
 *     has; each record ages out HELD_AGE_S after no handle here held it,
 *     and until the second install after the crash every inode that the
 *     versions retained at the crash had is kept as it drops, held or not
 *     (pc_store_held_presume), since its handle may be adopted later.
 * A fresh mount has no handles of an earlier one: everything goes
 * (pc_store_held_clear).  Records are kept and sorted out as versions are
 * dropped (drop.c), in the install's worker; at most HELD_MAX of them.
 *
 * LMDB "held": be64(ino) -> le64(until: 0 = tied, else unix seconds),
 * then the inode record as in "inodes"; be64(ino) 'L' -> a directory's
 * listing: per entry be64(ino), u8 type, le16 name length, the name.
 * Meta "held.floor"/"held.upto": the versions presumed open, 0 if none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"

#define HELD_BUCKETS 256
#define HELD_AGE_S (7 * 24 * 3600)
#define HELD_MAX 100000
#define META_HELD_FLOOR "held.floor"
#define META_HELD_UPTO "held.upto"
#define UNTIL_LEN 8

struct held_ino {
	uint64_t ino;
	unsigned count;
	struct held_ino *next;
};

struct store_held {
	pthread_mutex_t lock;
	struct held_ino *buckets[HELD_BUCKETS]; /* lock */
	atomic_bool exact; /* every handle of the mount is counted */
};

int store_held_init(struct pc_store *store)
{
	store->repo.held = calloc(1, sizeof(*store->repo.held));
	if (!store->repo.held)
		return -ENOMEM;
	pthread_mutex_init(&store->repo.held->lock, NULL);
	atomic_init(&store->repo.held->exact, true);
	return 0;
}

void store_held_free(struct pc_store *store)
{
	struct store_held *h = store->repo.held;

	if (!h)
		return;
	for (size_t i = 0; i < HELD_BUCKETS; i++)
		while (h->buckets[i]) {
			struct held_ino *e = h->buckets[i];

			h->buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&h->lock);
	free(h);
	store->repo.held = NULL;
}

/* ---- what fs/ has open ------------------------------------------------------ */

static struct held_ino **find_locked(struct store_held *h, uint64_t ino)
{
	struct held_ino **link =
		&h->buckets[(ino * 0x9e3779b97f4a7c15ULL) >> 56];

	while (*link && (*link)->ino != ino)
		link = &(*link)->next;
	return link;
}

int pc_store_inode_hold(struct pc_store *store, uint64_t ino)
{
	struct store_held *h = store->repo.held;
	struct held_ino **link, *e;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	link = find_locked(h, ino);
	if (*link) {
		(*link)->count++;
	} else if ((e = calloc(1, sizeof(*e))) != NULL) {
		*e = (struct held_ino){ .ino = ino, .count = 1 };
		*link = e;
	} else {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void pc_store_inode_release(struct pc_store *store, uint64_t ino)
{
	struct store_held *h = store->repo.held;
	struct held_ino **link, *e = NULL;

	pthread_mutex_lock(&h->lock);
	link = find_locked(h, ino);
	if (*link && --(*link)->count == 0) {
		e = *link;
		*link = e->next;
	}
	pthread_mutex_unlock(&h->lock);
	free(e);
}

static bool is_held(struct pc_store *store, uint64_t ino)
{
	struct store_held *h = store->repo.held;
	bool held;

	pthread_mutex_lock(&h->lock);
	held = *find_locked(h, ino) != NULL;
	pthread_mutex_unlock(&h->lock);
	return held;
}

void pc_store_held_exact(struct pc_store *store, bool exact)
{
	atomic_store(&store->repo.held->exact, exact);
}

/* ---- records kept as their versions drop ------------------------------------ */

/* be64(@ino), and 'L' after it for a directory's listing. */
static MDB_val held_key(uint64_t ino, bool listing, uint8_t buf[9])
{
	store_be64_put(buf, ino);
	buf[8] = 'L';
	return (MDB_val){ listing ? 9 : 8, buf };
}

static int put_record(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		      const MDB_val *rec, uint64_t until)
{
	uint8_t buf[9];
	MDB_val key = held_key(ino, false, buf),
		val = { UNTIL_LEN + rec->mv_size, NULL };
	int rc = store_mdb_error(
		"keeping a held inode",
		mdb_put(txn, store->repo.dbi.held, &key, &val, MDB_RESERVE));

	if (rc == 0) {
		store_le64_put(val.mv_data, until);
		memcpy((uint8_t *)val.mv_data + UNTIL_LEN, rec->mv_data,
		       rec->mv_size);
	}
	return rc;
}

/* Appends one dirent (@key, @val from "dirents") to the listing in @buf. */
static int append_entry(uint8_t **buf, size_t *len, size_t *cap,
			const MDB_val *key, const MDB_val *val)
{
	size_t name_len = key->mv_size - STORE_DIRENT_PREFIX_LEN;
	enum pc_entry_type type;
	uint64_t ino;
	uint8_t *grown;

	if (store_dirent_val_decode(val, &ino, &type) < 0)
		return -EIO;
	if (*len + 11 + name_len > *cap) {
		*cap = (*len + 11 + name_len) * 2;
		grown = realloc(*buf, *cap);
		if (!grown)
			return -ENOMEM;
		*buf = grown;
	}
	store_be64_put(*buf + *len, ino);
	(*buf)[*len + 8] = (uint8_t)type;
	(*buf)[*len + 9] = (uint8_t)(name_len & 0xff);
	(*buf)[*len + 10] = (uint8_t)(name_len >> 8);
	memcpy(*buf + *len + 11,
	       (const char *)key->mv_data + STORE_DIRENT_PREFIX_LEN, name_len);
	*len += 11 + name_len;
	return 0;
}

/* Directory @dir's listing in @version, kept beside its record. */
static int keep_listing(struct pc_store *store, MDB_txn *txn, uint64_t dir,
			uint64_t version)
{
	uint8_t prefix[STORE_DIRENT_PREFIX_LEN], kbuf[9], *buf = NULL;
	MDB_val key = { sizeof(prefix), prefix }, val;
	size_t len = 0, cap = 0;
	MDB_cursor *cursor = NULL;
	int rc, mrc;

	store_key_pair(version, dir, prefix);
	rc = store_mdb_error(
		"listing a held directory",
		mdb_cursor_open(txn, store->repo.dbi.dirents, &cursor));
	for (mrc = rc ? MDB_NOTFOUND
		      : mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
	     mrc == 0 && rc == 0 && key.mv_size > sizeof(prefix) &&
	     memcmp(key.mv_data, prefix, sizeof(prefix)) == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT))
		rc = append_entry(&buf, &len, &cap, &key, &val);
	if (cursor)
		mdb_cursor_close(cursor);
	key = held_key(dir, true, kbuf);
	val = (MDB_val){ len, buf ? (void *)buf : (void *)kbuf };
	if (rc == 0)
		rc = store_mdb_error(
			"keeping a held listing",
			mdb_put(txn, store->repo.dbi.held, &key, &val, 0));
	free(buf);
	return rc;
}

/* An inode of the versions retained at a crash (pc_store_held_presume). */
static bool presumed(struct pc_store *store, MDB_txn *txn,
		     const struct store_inode_rec *rec)
{
	uint64_t floor = 0, upto = 0;

	store_repo_meta_get(store, txn, META_HELD_FLOOR, 0, &floor);
	store_repo_meta_get(store, txn, META_HELD_UPTO, 0, &upto);
	return floor && rec->last_version >= floor && rec->last_version <= upto;
}

int store_held_keep(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		    const MDB_val *val, const struct store_inode_rec *rec)
{
	bool held;
	MDB_stat st;
	int rc;

	if (!store->repo.dbi.held_ok)
		return 0;
	held = is_held(store, ino);
	if (!held && !presumed(store, txn, rec))
		return 0;
	if (!held && (mdb_stat(txn, store->repo.dbi.held, &st) != 0 ||
		      st.ms_entries >= HELD_MAX))
		return 0; /* bounded: a presumption gives way first */
	rc = put_record(store, txn, ino, val,
			held ? 0 : (uint64_t)store_now(store) + HELD_AGE_S);
	if (rc == 0 && rec->type == PC_ENTRY_DIR)
		rc = keep_listing(store, txn, ino, rec->last_version);
	return rc;
}

/* ---- sorting them out --------------------------------------------------------- */

/* What becomes of the record under @cursor: kept, tied (until 0), aged
 * (until set), or deleted (true). */
static int gc_record(struct pc_store *store, MDB_cursor *cursor,
		     const MDB_val *key, const MDB_val *val, bool *deleted)
{
	uint64_t until = store_le64_get(val->mv_data), want = until;
	uint64_t now = (uint64_t)store_now(store);
	bool dir = val->mv_size > UNTIL_LEN &&
		   ((const uint8_t *)val->mv_data)[UNTIL_LEN] == PC_ENTRY_DIR;
	MDB_val copy;
	uint8_t *bytes;
	int rc;

	*deleted = false;
	if (is_held(store, store_be64_get(key->mv_data)))
		want = 0;
	else if (until == 0 && atomic_load(&store->repo.held->exact) && !dir)
		*deleted = true;
	else if (until == 0)
		want = now + HELD_AGE_S;
	else if (until <= now)
		*deleted = true;
	if (*deleted)
		return store_mdb_error("dropping a held inode",
				       mdb_cursor_del(cursor, 0));
	if (want == until)
		return 0;
	bytes = malloc(val->mv_size);
	if (!bytes)
		return -ENOMEM;
	memcpy(bytes, val->mv_data, val->mv_size);
	store_le64_put(bytes, want);
	copy = (MDB_val){ val->mv_size, bytes };
	rc = store_mdb_error(
		"ageing a held inode",
		mdb_cursor_put(cursor, (MDB_val *)key, &copy, MDB_CURRENT));
	free(bytes);
	return rc;
}

/* Every held record in @txn: kept, tied, aged or dropped (with its
 * listing). */
static int gc_all(struct pc_store *store, MDB_txn *txn)
{
	uint64_t gone = 0;
	bool deleted, any_gone = false;
	MDB_cursor *cursor;
	MDB_val key, val;
	int rc, mrc;

	rc = store_mdb_error(
		"sorting held inodes",
		mdb_cursor_open(txn, store->repo.dbi.held, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST);
	     mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (key.mv_size == 9) { /* a listing: goes with its record */
			if (any_gone && store_be64_get(key.mv_data) == gone)
				rc = store_mdb_error("dropping a held listing",
						     mdb_cursor_del(cursor, 0));
			continue;
		}
		if (key.mv_size != 8 || val.mv_size < UNTIL_LEN)
			continue;
		rc = gc_record(store, cursor, &key, &val, &deleted);
		if (deleted) {
			gone = store_be64_get(key.mv_data);
			any_gone = true;
		}
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("sorting held inodes", mrc);
	return rc;
}

int store_held_gc(struct pc_store *store, uint64_t keep_from)
{
	uint64_t upto = 0;
	MDB_txn *txn;
	int rc;

	if (!store->repo.dbi.held_ok)
		return 0;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = gc_all(store, txn);
	/* Every inode the versions retained at the crash had is either in a
	 * retained version or kept now: the presumption has done its work. */
	if (rc == 0)
		rc = store_repo_meta_get(store, txn, META_HELD_UPTO, 0, &upto);
	if (rc == 0 && upto && keep_from > upto) {
		rc = store_repo_meta_put(store, txn, META_HELD_FLOOR, 0);
		if (rc == 0)
			rc = store_repo_meta_put(store, txn, META_HELD_UPTO, 0);
	}
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn, "sorting held inodes");
}

int pc_store_held_presume(struct pc_store *store)
{
	uint64_t current = 0, previous = 0, floor = 0, upto = 0;
	MDB_txn *txn;
	int rc;

	pc_store_held_exact(store, false);
	if (store->base->readonly || !store->repo.dbi.held_ok)
		return 0;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = store_repo_meta_get(store, txn, META_CURRENT, 0, &current);
	if (rc == 0)
		rc = store_repo_meta_get(store, txn, META_PREVIOUS, 0,
					 &previous);
	if (rc == 0)
		rc = store_repo_meta_get(store, txn, META_HELD_FLOOR, 0,
					 &floor);
	if (rc == 0)
		rc = store_repo_meta_get(store, txn, META_HELD_UPTO, 0, &upto);
	previous = previous ? previous : current;
	if (rc == 0 && current)
		rc = store_repo_meta_put(store, txn, META_HELD_FLOOR,
					 floor && floor < previous ? floor
								   : previous);
	if (rc == 0 && current)
		rc = store_repo_meta_put(store, txn, META_HELD_UPTO,
					 upto > current ? upto : current);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn, "presuming held inodes");
}

int pc_store_held_clear(struct pc_store *store)
{
	MDB_txn *txn;
	int rc;

	pc_store_held_exact(store, true);
	if (store->base->readonly || !store->repo.dbi.held_ok)
		return 0;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = store_mdb_error("clearing held inodes",
			     mdb_drop(txn, store->repo.dbi.held, 0));
	if (rc == 0)
		rc = store_repo_meta_put(store, txn, META_HELD_FLOOR, 0);
	if (rc == 0)
		rc = store_repo_meta_put(store, txn, META_HELD_UPTO, 0);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn, "clearing held inodes");
}

/* ---- reading them ------------------------------------------------------------- */

int store_held_inode(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		     struct pc_inode *out)
{
	struct store_inode_rec rec;
	uint8_t buf[9];
	MDB_val key = held_key(ino, false, buf), val, inner;
	int rc;

	if (!store->repo.dbi.held_ok)
		return -ENOENT;
	rc = store_mdb_error("reading a held inode",
			     mdb_get(txn, store->repo.dbi.held, &key, &val));
	if (rc < 0)
		return rc;
	if (val.mv_size < UNTIL_LEN)
		return store_mdb_error("decoding a held inode", MDB_CORRUPTED);
	inner = (MDB_val){ val.mv_size - UNTIL_LEN,
			   (uint8_t *)val.mv_data + UNTIL_LEN };
	if (store_inode_decode(&inner, &rec) < 0)
		return store_mdb_error("decoding a held inode", MDB_CORRUPTED);
	return store_inode_to_pc(&rec, ino, out);
}

int store_held_list(struct pc_store *store, MDB_txn *txn, uint64_t dir,
		    struct pc_dir_listing *out)
{
	uint8_t buf[9];
	MDB_val key = held_key(dir, true, buf), val = { 0, NULL };
	const uint8_t *p, *end;
	size_t n = 0, name_len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!store->repo.dbi.held_ok)
		return -ENOENT;
	rc = store_mdb_error("reading a held listing",
			     mdb_get(txn, store->repo.dbi.held, &key, &val));
	/* Whole entries only: a damaged tail is not read. */
	for (p = val.mv_data, end = p + (rc == 0 ? val.mv_size : 0);
	     p && p + 11 <= end; p += 11 + name_len, n++) {
		name_len = (size_t)(p[9] | p[10] << 8);
		if (p + 11 + name_len > end)
			break;
	}
	out->entries = rc == 0 && n ? calloc(n, sizeof(*out->entries)) : NULL;
	if (rc == 0 && n && !out->entries)
		return -ENOMEM;
	for (p = val.mv_data; rc == 0 && out->count < n; p += 11 + name_len) {
		struct pc_dirent *e = &out->entries[out->count];

		name_len = (size_t)(p[9] | p[10] << 8);
		e->ino = store_be64_get(p);
		e->type = (enum pc_entry_type)p[8];
		e->name = strndup((const char *)p + 11, name_len);
		if (!e->name)
			rc = -ENOMEM;
		else
			out->count++;
	}
	if (rc < 0)
		pc_dir_listing_free(out);
	return rc;
}
