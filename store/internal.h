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
 *   chunks    hash[32]                        -> chunk record
 *   lru       be64(atime) hash[32]            -> (empty)
 *   meta      "name" (ASCII)                  -> le64 (schema, highest_version,
 *                                                current, previous, next_ino,
 *                                                usage.chunks, usage.bytes,
 *                                                ctr.<counter>)
 *   versions  be64(version)                   -> version record
 *   inodes    be64(ino)                       -> inode record
 *   idmap     identity[32]                    -> be64(ino)
 *   dirents   be64(version) be64(parent) name -> be64(child ino) type
 *   dirattr   be64(version) be64(dir ino)     -> le32 mode, le64 mtime
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

/* Keys of the "meta" database. */
#define META_SCHEMA "schema"
#define META_HIGHEST "highest_version"
#define META_CURRENT "current"
#define META_PREVIOUS "previous"
#define META_NEXT_INO "next_ino"
#define META_GENERATION "generation"
#define META_USAGE_CHUNKS "usage.chunks"
#define META_USAGE_BYTES "usage.bytes"
#define META_COUNTER_PREFIX "ctr."

/* The first inode number handed out: 1 is the root. */
#define STORE_FIRST_INO 2

struct store_dbis {
	MDB_dbi chunks;
	MDB_dbi lru;
	MDB_dbi meta;
	MDB_dbi versions;
	MDB_dbi inodes;
	MDB_dbi idmap;
	MDB_dbi dirents;
	MDB_dbi dirattr;
};

/* A chunk file renamed into chunks/ whose index entry waits for a flush. */
struct store_new_chunk {
	struct pc_hash hash;
	uint64_t size;
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
 */
struct pc_store {
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
};

/* Change in "usage.chunks" / "usage.bytes" made by one transaction. */
struct store_usage_delta {
	int64_t chunks;
	int64_t bytes;
};

/* ---- store.c --------------------------------------------------------- */

/* syslog levels (LOG_ERR, LOG_WARNING, LOG_INFO); one line per event. */
void store_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
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

/* Unsigned number under @key in "meta"; @fallback if absent. */
int store_meta_get(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t fallback, uint64_t *value);
/* The same in a read transaction of its own. */
int store_meta_read(struct pc_store *store, const char *key, uint64_t fallback,
		    uint64_t *value);
int store_meta_put(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t value);
/* Adds @delta to "usage.chunks" and "usage.bytes" (never below 0). */
int store_usage_apply(struct pc_store *store, MDB_txn *txn,
		      const struct store_usage_delta *delta);

/* ---- flush.c --------------------------------------------------------- */

/* Reads the persisted counters into ctr_base (at open). */
int store_counters_load(struct pc_store *store, MDB_txn *txn);

/* ---- chunks.c -------------------------------------------------------- */

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
/* Moves a chunk's LRU position to @atime. */
int store_index_touch(struct pc_store *store, MDB_txn *txn,
		      const struct pc_hash *hash, int64_t atime);
/* Start-up recovery, rw stores only: empties tmp/ and makes chunks/ and
 * the index agree (see pc_store_open). */
int store_reconcile(struct pc_store *store);

/* ---- codec.c: the byte layouts of the schema above ---------------------- */

void store_be64_put(uint8_t out[8], uint64_t value);
uint64_t store_be64_get(const void *in);
void store_le64_put(uint8_t out[8], uint64_t value);
uint64_t store_le64_get(const void *in);

struct store_chunk_rec {
	uint64_t size;
	int64_t atime;
	uint32_t flags; /* none defined yet (pinning will use them) */
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
