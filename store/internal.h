/*
 * internal.h - shared by the files of store/ only: the store handle, the
 * LMDB schema (key and value encodings live in codec.c) and the helpers
 * that more than one file needs.
 *
 * The LMDB environment (CACHE_DIR/index/) has these named databases; all
 * numbers in keys are big-endian so that LMDB's bytewise order is numeric
 * order, all numbers in values little-endian.  Values are unaligned:
 * decode with memcpy (codec.c), never by casting a pointer.
 *
 * Shared by every repository (the chunk store):
 *
 *   chunks    hash[32]                        -> chunk record
 *   lru       be64(atime) hash[32]            -> (empty)
 *   meta      "name" (ASCII)                  -> le64 (schema, generation,
 *                                                clean_close, usage.chunks,
 *                                                usage.bytes, ctr.<counter>,
 *                                                repo.<NAME>: a repository
 *                                                recorded in the index)
 *
 * Per repository (repo.c): the default repository (the handle that
 * pc_store_open returns) uses the names below as they are, and keeps its
 * version keys (current, previous, highest_version, highest_head,
 * next_ino, held, held.floor, held.upto) in "meta" itself, so that a
 * cache from before repositories opens unchanged.  Repository NAME uses
 * "NAME/meta" for those keys and "NAME/versions", "NAME/inodes", ... for
 * the rest, with the same records.
 *
 *   versions  be64(version)                   -> version record
 *   inodes    be64(ino)                       -> inode record
 *   idmap     identity[32]                    -> be64(ino)
 *   dirents   be64(version) be64(parent) name -> be64(child ino) type
 *   dirattr   be64(version) be64(dir ino)     -> le32 mode, le64 mtime
 *   held      be64(ino) ['L']                 -> an inode (or listing) that
 *                                                an open handle needs
 *                                                beyond its version (held.c)
 */
#ifndef PC_STORE_INTERNAL_H
#define PC_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "pc_store.h"

/* Bumped when a record layout changes; an index with a higher schema is
 * refused rather than misread. */
#define STORE_SCHEMA 1

/* Access hints kept between flushes; more are dropped (they only steer the
 * purge order, so losing some is harmless). */
#define STORE_HINTS_MAX 4096

/* Keys of the shared "meta" database. */
#define META_SCHEMA "schema"
#define META_GENERATION "generation"
/* store.c: the last close was clean (the reconcile may be skipped). */
#define META_CLEAN_CLOSE "clean_close"
#define META_USAGE_CHUNKS "usage.chunks"
#define META_USAGE_BYTES "usage.bytes"
#define META_COUNTER_PREFIX "ctr."
/* repo.c: "repo.<NAME>" -> le64 1 for each named repository. */
#define META_REPO_PREFIX "repo."

/* Keys of a repository's meta database (store_repo_meta_get; "meta"
 * itself for the default repository). */
#define META_HIGHEST "highest_version"
#define META_CURRENT "current"
#define META_PREVIOUS "previous"
#define META_NEXT_INO "next_ino"
/* Rollback (install.c): the version held by peercachectl rollback, 0 or
 * absent when none. */
#define META_HELD "held"

/* The first inode number handed out: 1 is the root. */
#define STORE_FIRST_INO 2

/* Named repositories an index holds at most, the default one aside. */
#define STORE_MAX_REPOS PC_STORE_MAX_REPOS

/* The chunk store's databases (shared by every repository). */
struct store_dbis {
	MDB_dbi chunks;
	MDB_dbi lru;
	MDB_dbi meta;
};

/* One repository's databases (see the top of this file). */
struct store_repo_dbis {
	MDB_dbi meta; /* its version keys: the shared "meta" for the default */
	MDB_dbi versions;
	MDB_dbi inodes;
	MDB_dbi idmap;
	MDB_dbi dirents;
	MDB_dbi dirattr;
	MDB_dbi held; /* held.c; absent in a read-only view of an old index */
	bool held_ok; /* "held" exists */
};
#define STORE_REPO_DBS 7 /* databases per named repository */

/* A repository recorded in the index, its databases open (repo.c). */
struct store_known_repo {
	char name[PC_REPO_NAME_MAX + 1];
	struct store_repo_dbis dbi;
	bool open; /* a handle is open on it */
};

/*
 * The repository a handle's tree and version calls act on.  The handle
 * pc_store_open() returns is the default repository (name ""); every
 * handle of pc_store_open_repo() is one named repository.  Set when the
 * handle is made and never changed (the held counts have their own lock).
 */
struct store_repo {
	char name[PC_REPO_NAME_MAX + 1]; /* "" for the default */
	struct store_repo_dbis dbi;
	/* Held inodes (held.c): what fs/ has open; its own lock inside. */
	struct store_held *held;
};

/* A chunk file renamed into chunks/ whose index entry waits for a flush. */
struct store_new_chunk {
	struct pc_hash hash;
	uint64_t size;
	int64_t atime; /* when it was committed: its first access */
};

struct store_pin;	/* pins.c */
struct store_chunk_rec; /* codec.c */

/* A chunk file renamed into chunks/ and not synced yet (commit.c). */
struct store_unsynced {
	struct pc_hash hash;
	uint64_t size;
	int64_t atime; /* when it was committed: its first access */
	int fd;	       /* open on the file, until its sync point */
};

/* A warning that repeats (a full disk hit by every write): said at most
 * once per STORE_WARN_INTERVAL_S, with how many were held back. */
#define STORE_WARN_INTERVAL_S 10
struct store_warn_limit {
	_Atomic int64_t last;  /* monotonic seconds of the last one said */
	_Atomic uint64_t held; /* held back since */
};

/* The batch of the next sync point and the syncer thread (commit.c). */
struct store_commit {
	pthread_mutex_t lock;
	pthread_cond_t cond;	      /* CLOCK_MONOTONIC; the syncer waits */
	struct store_unsynced *batch; /* lock */
	size_t count, cap;	      /* lock */
	uint64_t bytes;		      /* lock: the batch's bytes */
	uint64_t first_ms;	      /* lock: monotonic ms of its oldest */
	uint64_t interval_ms;	      /* set at open; 0: the default */
	bool started;		      /* lock: the syncer thread runs */
	bool stopping;		      /* lock: closing, no new thread */
	pthread_t thread;	      /* joined by store_commit_stop */
	/* One sync point at a time: taken before flush_lock, after
	 * purge_lock. */
	pthread_mutex_t sync_lock;
};

/* A read of a chunk, written into "chunks" and "lru" at the next flush. */
struct store_access {
	struct pc_hash hash;
	int64_t atime;
};

/*
 * LMDB does its own locking: the environment and the dbi handles may be
 * used from any thread, every call opens its own short transaction
 * (MDB_NOTLS, so a read transaction is not tied to its thread), and write
 * transactions (flush, install, the reconcile in open) wait for each other
 * on LMDB's writer lock.  What is ours to guard is listed per field.
 *
 * A handle is one repository (@repo) of a chunk store.  The chunk store
 * (every field from @dir down) lives in the default handle, the one
 * pc_store_open() made, which is its own @base; a repository handle
 * (pc_store_open_repo) leaves those fields unset (its fds -1), and every
 * chunk-level function starts with store = store->base.  So one chunk
 * store, one set of pins, counters, usage and purge serve every
 * repository, and the chunk-level code (commit, chunks, purge, ...) reads
 * as it did before repositories.
 */
struct pc_store {
	/* Set when the handle is made, never changed: any thread. */
	struct pc_store *base; /* the chunk store's handle (itself there) */
	struct store_repo repo;

	/* ---- the chunk store: the base handle only ---- */

	/* Set in open and never changed until close: safe from any thread. */
	char *dir;
	bool readonly;
	int lock_fd;   /* CACHE_DIR/lock, flock()ed; -1 in a read-only view */
	int chunks_fd; /* CACHE_DIR/chunks */
	int tmp_fd;    /* CACHE_DIR/tmp; -1 in a read-only view */
	MDB_env *env;
	struct store_dbis dbi;
	dev_t index_dev; /* identity of CACHE_DIR/index in the open registry */
	ino_t index_ino;
	bool registered; /* in the registry of environments (store.c) */
	uint64_t ctr_base[PC_CTR_COUNT]; /* counters as persisted at open */
	uint32_t generation;		 /* of this index (meta), 0 if none */

	/* Work for the next flush, filled by any thread. */
	pthread_mutex_t queue_lock;
	struct store_new_chunk *new_chunks; /* guarded by queue_lock */
	size_t new_chunks_count;	    /* guarded by queue_lock */
	size_t new_chunks_cap;		    /* guarded by queue_lock */
	struct store_access *accesses;	    /* guarded by queue_lock */
	size_t accesses_count;		    /* guarded by queue_lock */

	/* Serializes pc_store_flush() (and close). */
	pthread_mutex_t flush_lock;
	struct store_access *accesses_flushing; /* guarded by flush_lock */
	uint64_t ctr_flushed[PC_CTR_COUNT];	/* guarded by flush_lock */

	/* Counts made through this handle since open.  Lock-free (relaxed
	 * atomics): a counter is only ever read as a statistic. */
	_Atomic uint64_t ctr_counted[PC_CTR_COUNT];

	/* Live usage of chunks/ (rw stores): set after the reconcile in
	 * open, then changed by whoever renames a chunk file in (commit) or
	 * unlinks one successfully (purge, discard, verify).  Atomics. */
	_Atomic uint64_t usage_chunks;
	_Atomic uint64_t usage_bytes;

	/* Which chunks may have a file (present.c): built in open (rw
	 * stores), bits set by any thread (atomics); NULL: none, every
	 * lookup goes to the file system. */
	_Atomic uint64_t *present;
	/* The open's reconcile could not read a chunk directory: no filter
	 * (its files are not in the index).  Set in open only. */
	bool files_unread;
	/* A chunk file was left without its index entry (out of memory):
	 * the close leaves no clean mark, so that the next open reconciles
	 * (indexes it), as the filter it builds needs.  Atomic. */
	_Atomic bool index_incomplete;

	_Atomic uint64_t quota;	   /* bytes, 0 = none; atomic */
	_Atomic uint64_t max_age;  /* seconds, 0 = none; atomic */
	int64_t (*now)(void *arg); /* set in open, never changed */
	void *now_arg;

	pthread_mutex_t log_lock;
	pc_store_log_fn log; /* guarded by log_lock */
	void *log_arg;	     /* guarded by log_lock */

	/* Serializes purges (purge.c); taken before flush_lock. */
	pthread_mutex_t purge_lock;

	/* Group commit (commit.c): chunk files waiting for a sync point. */
	struct store_commit commit;
	/* "the cache's disk is full" (purge.c), "cannot sync" (commit.c):
	 * atomics. */
	struct store_warn_limit enospc_warning;
	struct store_warn_limit sync_warning;

	/* Pins (pins.c): a hash table of reference counts. */
	pthread_rwlock_t pin_lock; /* writers: pin/unpin; readers: purge */
	struct store_pin **pins;   /* guarded by pin_lock; STORE_PIN_BUCKETS */

	/* Named repositories recorded in the index (repo.c).  repos_lock
	 * also serializes mdb_dbi_open(), which LMDB allows in one
	 * transaction of a process at a time. */
	pthread_mutex_t repos_lock;
	struct store_known_repo known[STORE_MAX_REPOS]; /* repos_lock */
	size_t nknown;					/* repos_lock */
};

/* Change in "usage.chunks" / "usage.bytes" made by one transaction. */
struct store_usage_delta {
	int64_t chunks;
	int64_t bytes;
};

/* ---- store.c --------------------------------------------------------- */

/* One line per event, to @store's log hook; @store NULL (or no hook):
 * errors and warnings to stderr, the rest dropped. */
void store_log(struct pc_store *store, enum pc_log_level level, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
/* Unix seconds by the store's clock. */
int64_t store_now(struct pc_store *store);
/*
 * The one place LMDB's return codes become errnos: MDB_SUCCESS -> 0,
 * MDB_NOTFOUND -> -ENOENT, MDB_MAP_FULL -> -ENOSPC (logged), a system
 * errno e -> -e; anything else -> -EIO, logged with @what.  @what comes
 * first so that calls read "what we were doing, the LMDB call".
 */
int store_mdb_error(const char *what, int rc);
/* A transaction on the store's environment; @flags 0 or MDB_RDONLY. */
int store_txn_begin(struct pc_store *store, unsigned int flags, MDB_txn **txn);
/* Commits; on failure the transaction is gone as well. */
int store_txn_commit(MDB_txn *txn, const char *what);
/* A read transaction and a cursor on @dbi in it; end both with
 * store_read_cursor_end(). */
int store_read_cursor(struct pc_store *store, MDB_dbi dbi, MDB_txn **txn,
		      MDB_cursor **cursor);
void store_read_cursor_end(MDB_txn *txn, MDB_cursor *cursor);

/* ---- meta.c ---------------------------------------------------------- */

/* Unsigned number under @key in the meta database @dbi; @fallback if
 * absent. */
int store_meta_get_in(MDB_txn *txn, MDB_dbi dbi, const char *key,
		      uint64_t fallback, uint64_t *value);
int store_meta_put_in(MDB_txn *txn, MDB_dbi dbi, const char *key,
		      uint64_t value);
/* The same in the shared "meta". */
int store_meta_get(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t fallback, uint64_t *value);
/* The same in a read transaction of its own. */
int store_meta_read(struct pc_store *store, const char *key, uint64_t fallback,
		    uint64_t *value);
int store_meta_put(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t value);
/* The same in @store's repository's meta database (its version keys). */
int store_repo_meta_get(struct pc_store *store, MDB_txn *txn, const char *key,
			uint64_t fallback, uint64_t *value);
int store_repo_meta_read(struct pc_store *store, const char *key,
			 uint64_t fallback, uint64_t *value);
int store_repo_meta_put(struct pc_store *store, MDB_txn *txn, const char *key,
			uint64_t value);
/* Maps the pages a lookup starts from, which a commit just rewrote
 * (warm.c); @base: the base store.  Best effort. */
void store_warm_entry(struct pc_store *base);
/* Adds @delta to "usage.chunks" and "usage.bytes" (never below 0). */
int store_usage_apply(struct pc_store *store, MDB_txn *txn,
		      const struct store_usage_delta *delta);

/* ---- flush.c --------------------------------------------------------- */

/* Reads the persisted counters into ctr_base (at open). */
int store_counters_load(struct pc_store *store, MDB_txn *txn);

/* ---- commit.c -------------------------------------------------------- */

/* Locks and condition variable (at open); 0 or -errno. */
int store_commit_init(struct pc_store *store);
/* A chunk file of @size bytes just renamed into chunks/, with @fd open on
 * it (taken: closed after its sync point): its index entry is queued once
 * its data is synced.  Starts the syncer thread on first use. */
void store_commit_add(struct pc_store *store, const struct pc_hash *hash,
		      uint64_t size, int fd);
/* Syncs the batch, queues its index entries and flushes (pc_store_flush);
 * any thread.  0 or the flush's -errno. */
int store_sync_point(struct pc_store *store);
/* Closing: stops the syncer (joins it) and runs a last sync point. */
void store_commit_stop(struct pc_store *store);
/* Releases what store_commit_init() made (and a batch never synced). */
void store_commit_free(struct pc_store *store);

/* ---- chunks.c -------------------------------------------------------- */

/* True if @lim's warning is due now (any thread); *@held gets how many
 * were held back since the last one. */
bool store_warn_due(struct store_warn_limit *lim, uint64_t *held);

/* Queues the index entry of a chunk whose file is in chunks/ and synced,
 * for the next flush.  If memory runs out the entry is lost until the next
 * start, whose reconcile adds it. */
void store_queue_new_chunk(struct pc_store *store, const struct pc_hash *hash,
			   uint64_t size, int64_t atime);

/* "ab/<64 hex>" relative to chunks_fd; @out holds STORE_CHUNK_PATH_LEN. */
#define STORE_CHUNK_PATH_LEN (3 + PC_HASH_HEX_LEN + 1)
void store_chunk_path(const struct pc_hash *hash, char *out);
/* Indexes a chunk file of @size bytes unless it already is. */
int store_index_add(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash, uint64_t size, int64_t atime,
		    struct store_usage_delta *usage);
/* Removes a chunk's index and LRU entries (the file is the caller's). */
int store_index_del(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash,
		    struct store_usage_delta *usage);
/* Deletes @hash's entry after its file was unlinked (also if a new
 * download renamed it in again since: see chunks.c); 1 if an entry was
 * deleted, else 0. */
int store_index_drop(struct pc_store *store, MDB_txn *txn,
		     const struct pc_hash *hash,
		     struct store_usage_delta *usage);
/* Moves a chunk's LRU position to @atime. */
int store_index_touch(struct pc_store *store, MDB_txn *txn,
		      const struct pc_hash *hash, int64_t atime);
/* The chunk record of @hash: -ENOENT if not indexed, -EIO if malformed. */
int store_index_get(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash, struct store_chunk_rec *rec);
/* Unlinks chunk @hash's file; on success the live usage drops by @size
 * (its size).  0, -ENOENT if it was not there, or another -errno. */
int store_unlink_chunk(struct pc_store *store, const struct pc_hash *hash,
		       uint64_t size);
/* Removes chunk @hash: the file first, then its index entry, in a
 * transaction of its own (pc_store_chunk_discard). */
int store_remove_chunk(struct pc_store *store, const struct pc_hash *hash);

/* ---- reconcile.c ------------------------------------------------------- */

/* Start-up recovery, rw stores only: empties tmp/ and makes chunks/ and
 * the index agree (see pc_store_open). */
int store_reconcile(struct pc_store *store);
/* The same after a clean close (store.c's mark): every file in chunks/
 * is indexed and synced already; only tmp/ is emptied. */
int store_reconcile_clean(struct pc_store *store);
/* ---- present.c --------------------------------------------------------- */

/* The filter of the chunks that may have a file, from the index (open,
 * after the reconcile); -errno, and then no filter. */
int store_present_build(struct pc_store *store);
/* @hash's file may exist from now on: once it is renamed in. */
void store_present_mark(struct pc_store *store, const struct pc_hash *hash);
/* False: no file of @hash can exist, no need to look.  True without a
 * filter. */
bool store_present_maybe(struct pc_store *store, const struct pc_hash *hash);
void store_present_free(struct pc_store *store);

/* SHA-256 of the regular file @name under @dirfd; *@size gets the bytes
 * read (may be NULL). */
int store_hash_file(int dirfd, const char *name, struct pc_hash *out,
		    uint64_t *size);
/* The same for the open file @fd, read from offset 0 with pread. */
int store_hash_fd(int fd, struct pc_hash *out, uint64_t *size);

/* ---- purge.c ----------------------------------------------------------- */

/* After a commit added a chunk: purges to the low watermark if usage is
 * over the quota; @keep (the new chunk; may be NULL) is pinned meanwhile. */
void store_quota_check(struct pc_store *store, const struct pc_hash *keep);
/* After ENOSPC: purges @needed bytes (plus the slack) if it can.  0 if
 * something was freed, else -ENOSPC. */
int store_make_room(struct pc_store *store, uint64_t needed);

/* ---- tree.c ------------------------------------------------------------ */

/* Manifest hashes of the retained versions (current, previous) of the
 * repository whose databases are @dbi, appended to @out (room for 2);
 * returns how many (0..2), or a negative errno. */
int store_retained_of(MDB_txn *txn, const struct store_repo_dbis *dbi,
		      struct pc_hash *out);

/* ---- repo.c ------------------------------------------------------------ */

/* Room for the retained manifests of every repository. */
#define STORE_RETAINED_MAX (2 * (STORE_MAX_REPOS + 1))
/* Opens (@create: creating) the databases of repository @name ("" for
 * the default, whose meta is @shared_meta) in @txn.  The caller holds
 * repos_lock, or is opening the store. */
int store_repo_dbis_open(MDB_txn *txn, const char *name, bool create,
			 MDB_dbi shared_meta, struct store_repo_dbis *dbi);
/* At open, in @txn: the repositories recorded in the index into
 * base->known, their databases opened. */
int store_repos_load(struct pc_store *base, MDB_txn *txn);
/* The retained manifests of every repository of @base (the default and
 * each recorded one, open or not) into @out, in a read transaction of
 * its own; how many or a negative errno. */
int store_retained_manifests(struct pc_store *base,
			     struct pc_hash out[STORE_RETAINED_MAX]);
/* Closing a repository handle (not the base). */
void store_repo_close(struct pc_store *store);
/* Closing the base: an error for each repository handle left open (a
 * bug of the caller's, whose handles now dangle). */
void store_repos_check_closed(struct pc_store *base);

/* ---- held.c ------------------------------------------------------------ */

struct store_inode_rec;
/* The in-memory counts of @store's repository. */
int store_held_init(struct pc_store *store);
void store_held_free(struct pc_store *store);
/* drop.c, in @txn, before inode @ino (record @val, decoded @rec) is
 * dropped: kept in "held" if fs/ has it open or a crash's presumption
 * covers it (a directory with its listing, read from its last version's
 * tree, which must still be there). */
int store_held_keep(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		    const MDB_val *val, const struct store_inode_rec *rec);
/* After a drop to @keep_from: held records tied, aged or dropped. */
int store_held_gc(struct pc_store *store, uint64_t keep_from);
/* tree.c: a held inode, or a held directory's listing; -ENOENT. */
int store_held_inode(struct pc_store *store, MDB_txn *txn, uint64_t ino,
		     struct pc_inode *out);
int store_held_list(struct pc_store *store, MDB_txn *txn, uint64_t dir,
		    struct pc_dir_listing *out);

/* ---- pins.c ------------------------------------------------------------ */

#define STORE_PIN_BUCKETS 4096
int store_pins_init(struct pc_store *store);
void store_pins_free(struct pc_store *store);
/* With pin_lock held, shared or not (purge: check then unlink). */
bool store_pinned_locked(struct pc_store *store, const struct pc_hash *hash);

/* ---- codec.c: the byte layouts of the schema above ---------------------- */

void store_be64_put(uint8_t out[8], uint64_t value);
uint64_t store_be64_get(const void *in);
void store_le64_put(uint8_t out[8], uint64_t value);
uint64_t store_le64_get(const void *in);

struct store_chunk_rec {
	uint64_t size;
	int64_t atime;
	uint32_t flags; /* none defined yet (pins live in memory) */
};
#define STORE_CHUNK_REC_LEN 20
void store_chunk_rec_encode(const struct store_chunk_rec *rec,
			    uint8_t out[STORE_CHUNK_REC_LEN]);
int store_chunk_rec_decode(const MDB_val *val, struct store_chunk_rec *rec);

#define STORE_LRU_KEY_LEN (8 + PC_HASH_LEN)
void store_lru_key(int64_t atime, const struct pc_hash *hash,
		   uint8_t out[STORE_LRU_KEY_LEN]);

#define STORE_VERSION_REC_LEN 165
void store_version_encode(const struct pc_store_version *v,
			  uint8_t out[STORE_VERSION_REC_LEN]);
int store_version_decode(const MDB_val *val, struct pc_store_version *v);

/*
 * Inode record: type u8, mode le32, mtime le64, size le64, parent le64,
 * last_version le64, identity[32], nchunks le32, then nchunks times
 * (hash[32], len le32) for a file, the target bytes for a symlink,
 * nothing for a directory (whose attributes are per version in "dirattr").
 */
struct store_inode_rec {
	enum pc_entry_type type;
	uint32_t mode;
	int64_t mtime;
	uint64_t size;
	uint64_t parent;
	uint64_t last_version;
	struct pc_hash identity;
	uint32_t nchunks;
	const struct pc_chunk_ref *chunks; /* encode: borrowed */
	const char *target;		   /* encode: borrowed, size bytes */
	const uint8_t *payload;		   /* decode: borrowed from LMDB */
	size_t payload_len;
};
#define STORE_INODE_HEAD_LEN 73
#define STORE_CHUNK_ENTRY_LEN (PC_HASH_LEN + 4)
/* Bytes store_inode_encode() writes for @rec; 0 if it would not fit. */
size_t store_inode_rec_len(const struct store_inode_rec *rec);
void store_inode_encode(const struct store_inode_rec *rec, uint8_t *out);
/* Only the fixed part and a borrowed payload; -EIO if malformed. */
int store_inode_decode(const MDB_val *val, struct store_inode_rec *rec);
/* Fills @out (chunks/target malloc'd) from a decoded record. */
int store_inode_to_pc(const struct store_inode_rec *rec, uint64_t ino,
		      struct pc_inode *out);

#define STORE_DIRENT_PREFIX_LEN 16
#define STORE_DIRENT_KEY_MAX (STORE_DIRENT_PREFIX_LEN + PC_NAME_MAX)
#define STORE_DIRENT_VAL_LEN 9
/* be64(@version) be64(@parent) @name; returns the key length. */
size_t store_dirent_key(uint64_t version, uint64_t parent, const char *name,
			size_t name_len, uint8_t out[STORE_DIRENT_KEY_MAX]);
void store_dirent_val(uint64_t ino, enum pc_entry_type type,
		      uint8_t out[STORE_DIRENT_VAL_LEN]);
int store_dirent_val_decode(const MDB_val *val, uint64_t *ino,
			    enum pc_entry_type *type);

#define STORE_DIRATTR_KEY_LEN 16
#define STORE_DIRATTR_VAL_LEN 12
void store_dirattr_val(uint32_t mode, int64_t mtime,
		       uint8_t out[STORE_DIRATTR_VAL_LEN]);
int store_dirattr_val_decode(const MDB_val *val, uint32_t *mode,
			     int64_t *mtime);
/* be64(@a) be64(@b): the keys of "dirattr" and dirent prefixes. */
void store_key_pair(uint64_t a, uint64_t b, uint8_t out[16]);

#endif
