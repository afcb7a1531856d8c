/*
 * pc_store.h - the node's chunk store and its LMDB index.
 *
 * CACHE_DIR/chunks/ab/<hex>   verified chunk files (immutable)
 * CACHE_DIR/tmp/              downloads in flight
 * CACHE_DIR/index/            the LMDB environment
 * CACHE_DIR/lock              flock()ed by the one daemon using the cache
 *
 * A chunk exists once its file has been renamed into chunks/ (after its
 * SHA-256 and length were checked); its index entry follows in the next
 * flush.  Start-up reconciles the two, so a crash at any moment never leaves
 * anything half-written that could be served.
 *
 * The index also holds the trees of the retained versions (current and
 * previous), so lookups and readdir are LMDB reads; inode numbers are
 * persistent: an entry whose path and content are unchanged keeps its inode
 * across versions, a changed one gets a new, never reused number.
 *
 * Threads: every function is safe to call from any thread unless it says
 * otherwise.  LMDB read transactions are short and per call.
 *
 * Errors: 0 or a negative errno.  LMDB's own codes never escape: a full
 * index is -ENOSPC, anything unexpected -EIO (and logged).
 */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_format.h"

#define PC_ROOT_INO 1

struct pc_store;

/* ---- lifetime ----------------------------------------------------------- */

/*
 * Opens (creating if needed) the cache at @cache_dir: takes the cache lock
 * (-EBUSY if another daemon holds it), opens LMDB, removes tmp/ leftovers
 * and reconciles chunk files with the index (unindexed files are re-hashed
 * and indexed or removed; index entries without a valid file are dropped).
 * @err gets a one-line reason on failure.
 *
 * A process opens a given cache at most once, read-write or read-only:
 * LMDB forbids two environments on the same files in one process, so a
 * second open in the same process fails with -EBUSY.
 */
int pc_store_open(const char *cache_dir, struct pc_store **out, char *err,
		  size_t errlen);
/* Read-only view for tools (works while the daemon runs or not); no lock,
 * no reconcile, no writes (they fail with -EROFS).  -ENOENT if there is no
 * index.  The view sees what the daemon commits while it is open.  LMDB's
 * reader table lives in index/lock.mdb, so the caller needs write access
 * to that file. */
int pc_store_open_readonly(const char *cache_dir, struct pc_store **out,
			   char *err, size_t errlen);
/* Flushes pending index updates and counters, then closes.  No other
 * thread may be using @store any more.  NULL is a no-op. */
void pc_store_close(struct pc_store *store);
const char *pc_store_dir(const struct pc_store *store);
/* A random number fixed when the index was created (never 0 in a writable
 * store): the FUSE generation of every inode, so that file handles from a
 * wiped cache's earlier life are refused, not mistaken for new inodes. */
uint32_t pc_store_generation(const struct pc_store *store);

/* ---- chunks -------------------------------------------------------------- */

/*
 * Opens chunk @hash for reading (O_RDONLY|O_CLOEXEC).  Returns an fd the
 * caller closes, or -ENOENT when the chunk is not cached.  Records the
 * access (batched; written at the next flush; not in a read-only view).
 * This is the read hot path: one open(2), no LMDB transaction.
 */
int pc_store_chunk_open(struct pc_store *store, const struct pc_hash *hash);
bool pc_store_chunk_present(struct pc_store *store, const struct pc_hash *hash);
/* Removes chunk @hash (file and index entry), e.g. one found damaged on
 * disk, so that the next read fetches it again.  0 (also if absent) or a
 * negative errno; -EROFS in a read-only view.  One LMDB write transaction:
 * not for a FUSE worker's hot path. */
int pc_store_chunk_discard(struct pc_store *store, const struct pc_hash *hash);

/*
 * A download in progress: bytes go to a file in tmp/ and through SHA-256
 * as they arrive; commit checks length and hash before the rename.
 */
struct pc_store_tmp;

/* Caller owns the result; finish with commit or abort.  One thread uses a
 * given tmp at a time.  NULL on failure with errno set: EROFS in a
 * read-only view, EFBIG if @expected_len exceeds PC_MANIFEST_MAX (the
 * largest object; chunks and manifests both come through here). */
struct pc_store_tmp *pc_store_tmp_begin(struct pc_store *store,
					const struct pc_hash *hash,
					uint64_t expected_len);
/* -EFBIG if the data would exceed the expected length (the caller must
 * abort: the source is sending too much); -ENOSPC, -EIO from the disk. */
int pc_store_tmp_write(struct pc_store_tmp *tmp, const void *data, size_t len);
uint64_t pc_store_tmp_written(const struct pc_store_tmp *tmp);
/*
 * Verifies length and SHA-256; on success syncs the file (fdatasync: this
 * blocks for the disk), renames it into chunks/ and queues the index
 * entry; returns 0, also when the chunk was already there (a concurrent
 * download of it won).  -EBADMSG on a hash or length mismatch: the source
 * sent wrong bytes.  If a pc_store_tmp_write() failed, that error instead
 * (-EFBIG, or a local -ENOSPC/-EIO that is not the source's fault).  The
 * file is removed on every error.  Frees @tmp in every case.
 */
int pc_store_tmp_commit(struct pc_store_tmp *tmp);
/* Removes the temporary file and frees @tmp. */
void pc_store_tmp_abort(struct pc_store_tmp *tmp);

/* Writes queued index entries, access times and counters in one LMDB
 * transaction.  Called on a timer by the daemon and at close.  On failure
 * the queued index entries are kept for the next flush (access times may
 * be dropped).  -EROFS in a read-only view. */
int pc_store_flush(struct pc_store *store);

/* ---- counters ------------------------------------------------------------ */

enum pc_counter {
	PC_CTR_HITS,   /* reads answered from the cache */
	PC_CTR_MISSES, /* reads that had to wait for a fetch */
	PC_CTR_BYTES_FROM_CACHE,
	PC_CTR_BYTES_FROM_PEERS,
	PC_CTR_BYTES_FROM_MIRROR,
	PC_CTR_BYTES_SERVED_PEERS,
	PC_CTR_CHUNKS_SERVED_PEERS,
	PC_CTR_BAD_FROM_MIRROR, /* chunks rejected: hash/length mismatch */
	PC_CTR_BAD_FROM_PEERS,
	PC_CTR_PURGED_CHUNKS,
	PC_CTR_PURGED_BYTES,
	PC_CTR_COUNT
};

/* Lock-free; persisted at the next flush.  In a read-only view the counts
 * stay in this process. */
void pc_store_count(struct pc_store *store, enum pc_counter ctr,
		    uint64_t delta);
/* Persisted value plus what is pending.  A read-only view reads the value
 * the daemon last flushed. */
uint64_t pc_store_counter(struct pc_store *store, enum pc_counter ctr);
const char *pc_counter_name(enum pc_counter ctr); /* "hits", "misses", ... */

struct pc_store_usage {
	uint64_t chunks; /* indexed chunk files */
	uint64_t bytes;	 /* their total size */
};
/* As of the last flush: chunks committed since then are not counted yet. */
int pc_store_usage(struct pc_store *store, struct pc_store_usage *out);

/* ---- versions ------------------------------------------------------------ */

struct pc_store_version {
	uint64_t version;
	char name[PC_REPO_NAME_MAX + 1];
	int64_t created;
	int64_t expires;
	int64_t accepted; /* when this node installed it */
	struct pc_hash manifest;
	uint64_t manifest_size;
	uint32_t root_mode;
	int64_t root_mtime;
	uint64_t files; /* regular files in the tree */
	uint64_t bytes; /* their total size */
};

/* The version reads use now, and the one before it.  -ENOENT if none. */
int pc_store_current(struct pc_store *store, struct pc_store_version *out);
int pc_store_previous(struct pc_store *store, struct pc_store_version *out);
/* The highest version ever accepted (0 if none); survives restarts and is
 * what rollback protection compares against. */
uint64_t pc_store_highest_version(struct pc_store *store);

/* A name whose meaning changed in a version switch: the kernel's cached
 * dentry (@parent, @name) must be invalidated.  That is every name added,
 * removed or pointing at another inode, except names inside directories
 * that are new in this version (the kernel cannot have dentries there). */
struct pc_store_change {
	uint64_t parent;
	char *name;
};

struct pc_store_changes {
	size_t count;
	struct pc_store_change *items;
};
void pc_store_changes_free(struct pc_store_changes *changes);

/*
 * Installs @m (already verified against @head by the caller) as the new
 * current version in one LMDB write transaction, synced to disk: inodes are
 * reused for unchanged entries and allocated for new ones, the previous
 * current becomes previous, older trees are dropped, and the highest
 * accepted version is raised.  -ESTALE if head->version is not higher than
 * the highest ever accepted.  -EINVAL if @m is not sorted with every parent
 * directory before its children (pc_manifest_parse() guarantees that; a
 * manifest built in memory must go through pc_manifest_serialize() first).
 * -EROFS in a read-only view.  Chunk presence is not checked: the tree
 * names chunks, fetching them is the reader's business.  On success, if
 * @changes is not NULL, it receives the names to invalidate (caller frees
 * with pc_store_changes_free).
 */
int pc_store_install(struct pc_store *store, const struct pc_head *head,
		     const struct pc_manifest *m,
		     struct pc_store_changes *changes);

/* ---- the tree (for fs/) -------------------------------------------------- */

/* Functions that fill a pc_inode zero it first, so pc_inode_release() is
 * safe after an error too. */
struct pc_inode {
	uint64_t ino;
	uint64_t parent; /* directory inode ("..") */
	enum pc_entry_type type;
	uint32_t mode; /* permission bits */
	int64_t mtime;
	uint64_t size;
	uint32_t nchunks;
	/* Caller owns: free with pc_inode_release().  Files: the chunk list;
	 * symlinks: the target (NUL-terminated). */
	struct pc_chunk_ref *chunks;
	char *target;
};
void pc_inode_release(struct pc_inode *inode);

/*
 * In version @version (0 = current): the child @name of directory @parent;
 * a directory child has its attributes in that version.  -ENOENT if
 * absent, -ENOTDIR if @parent is not a directory of that version, -ESTALE
 * if @version is not retained, -ENAMETOOLONG.  Before the first install
 * the tree is an empty root.
 */
int pc_store_lookup(struct pc_store *store, uint64_t version, uint64_t parent,
		    const char *name, struct pc_inode *out);
/* Any inode of a retained version, by number (also after a restart: file
 * handles survive).  -ESTALE if it belongs to no retained version.  A
 * directory has the attributes of the current version, else of the
 * previous one.  PC_ROOT_INO always exists: before the first install it is
 * an empty directory with mode 0755 and mtime 0. */
int pc_store_inode(struct pc_store *store, uint64_t ino, struct pc_inode *out);

struct pc_dirent {
	uint64_t ino;
	enum pc_entry_type type;
	char *name; /* owned by the listing */
};

struct pc_dir_listing {
	size_t count;
	struct pc_dirent *entries; /* sorted by name */
};
/* Snapshot of directory @dir in @version (0 = current).  Caller frees with
 * pc_dir_listing_free().  Errors as for pc_store_lookup(). */
int pc_store_list(struct pc_store *store, uint64_t version, uint64_t dir,
		  struct pc_dir_listing *out);
void pc_dir_listing_free(struct pc_dir_listing *listing);

#endif /* PC_STORE_H */
