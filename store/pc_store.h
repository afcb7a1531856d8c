/*
 * pc_store.h - the node's chunk store and its LMDB index.
 *
 * CACHE_DIR/chunks/ab/<hex>   verified chunk files (immutable)
 * CACHE_DIR/tmp/              downloads in flight
 * CACHE_DIR/index/            the LMDB environment
 * CACHE_DIR/lock              flock()ed by the one daemon using the cache
 *
 * A chunk exists once its file has been renamed into chunks/ (after its
 * SHA-256 and length were checked); its index entry follows once its data
 * is synced (a sync point covers many chunks: group commit).  Start-up
 * reconciles the two, re-hashing every file without an entry, so a crash
 * or a power cut at any moment never leaves anything half-written that
 * could be served.
 *
 * The index also holds the trees of the retained versions (current and
 * previous), so lookups and readdir are LMDB reads; inode numbers are
 * persistent: an entry whose path and content are unchanged keeps its inode
 * across versions, a changed one gets a new, never reused number.
 *
 * One chunk store serves several repositories (see "repositories" below):
 * chunks, pins, counters, usage, quota and purge are the store's; trees,
 * versions and inode numbers are each repository's.  Every function takes
 * a handle; chunk-level ones act on the store of any handle, tree and
 * version ones on the handle's repository.
 *
 * The cache is kept under a quota by purging least recently used chunks
 * (see "quota and purge" below); chunks that open files, retained versions
 * or explicit pins need are never purged.
 *
 * Threads: every function is safe to call from any thread unless it says
 * otherwise.  LMDB read transactions are short and per call.
 *
 * Errors: 0 or a negative errno.  LMDB's own codes never escape: a full
 * index is -ENOSPC, anything unexpected -EIO (and logged).
 */
#ifndef PC_STORE_H
#define PC_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* off_t */

#include "pc_config.h" /* enum pc_log_level */
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

/* One line of the store's log; @line is borrowed for the call, which may
 * come from any thread that calls into the store, with store locks held:
 * the hook must not call back into the store. */
typedef void (*pc_store_log_fn)(void *arg, enum pc_log_level level,
				const char *line);

struct pc_store_options {
	uint64_t quota;	  /* bytes; 0 = none (pc_store_set_limits) */
	uint64_t max_age; /* seconds since last access; 0 = none */
	/* NULL: errors and warnings go to stderr, the rest (purge lines,
	 * the reconcile's summary) nowhere.  Set here, the hook also gets
	 * what the start-up reconcile reports. */
	pc_store_log_fn log;
	void *log_arg;
	/* The clock of access times and of pc_store_purge_aged(), in Unix
	 * seconds; NULL: time(NULL).  For tests; called from any thread,
	 * also on the read path. */
	int64_t (*now)(void *arg);
	void *now_arg;
	/* How long a chunk renamed in waits at most for its sync point
	 * (group commit, pc_store_tmp_commit_hashed); 0: 50 ms.  For tests
	 * that must catch a chunk before its sync point. */
	uint64_t sync_interval_ms;
};

/* pc_store_open() with @opts (NULL: all zero, which is what
 * pc_store_open() uses: no quota, no age limit, no log hook). */
int pc_store_open_with(const char *cache_dir,
		       const struct pc_store_options *opts,
		       struct pc_store **out, char *err, size_t errlen);
/* Replaces the log hook (NULL: the default above).  A line being logged
 * by another thread at that moment may still reach the old hook. */
void pc_store_set_log(struct pc_store *store, pc_store_log_fn log, void *arg);
/* Read-only view for tools (works while the daemon runs or not); no lock,
 * no reconcile, no writes (they fail with -EROFS).  -ENOENT if there is no
 * index.  The view sees what the daemon commits while it is open.  LMDB's
 * reader table lives in index/lock.mdb, so the caller needs write access
 * to that file. */
int pc_store_open_readonly(const char *cache_dir, struct pc_store **out,
			   char *err, size_t errlen);
/* Flushes pending index updates and counters, then closes.  No other
 * thread may be using @store any more.  NULL is a no-op.  A repository
 * handle (pc_store_open_repo) closes only itself; close every one before
 * the store they came from. */
void pc_store_close(struct pc_store *store);
const char *pc_store_dir(const struct pc_store *store);
/* A random number fixed when the index was created (never 0 in a writable
 * store): the FUSE generation of every inode, so that file handles from a
 * wiped cache's earlier life are refused, not mistaken for new inodes. */
uint32_t pc_store_generation(const struct pc_store *store);

/* ---- repositories ---------------------------------------------------------
 *
 * The handle pc_store_open*() returns is the store and its default
 * repository, the one a cache from before repositories has (its
 * databases keep their names: such a cache opens unchanged).  A named
 * repository has trees of its own in the same index: its own versions
 * (current, previous, the highest accepted, the hold of a rollback, the
 * head digest), its own inode numbers (each mount has its own inode
 * space; the generation is the store's), its own held inodes; and it
 * shares every chunk with the others, stored once.
 *
 * Names: 1 to PC_REPO_NAME_MAX (64) characters of A-Z a-z 0-9 . _ -, not
 * starting with '.' (pc_repo_name_valid, what a signed head may carry).
 * A store records at most PC_STORE_MAX_REPOS named repositories.
 *
 * Purge keeps the retained manifests (current and previous) of the
 * default repository and of every repository recorded in the index,
 * whether a handle is open on it this run or not: a repository that one
 * run does not serve keeps its versions (and, while it has them, its
 * manifests) for the next.  Its other chunks are purged as usual, least
 * recently used first.  Nothing removes a repository from the index yet
 * (forgetting one is for the tools to come).  An older peercache opening
 * the cache sees the default repository only, and its purge keeps only
 * that one's manifests.
 */
#define PC_STORE_MAX_REPOS 16

/*
 * A handle on repository @name of the store @store belongs to (any
 * handle of it), recorded in the index if it is new.  Its tree and
 * version calls act on that repository, its chunk calls on the shared
 * store.  Caller closes it with pc_store_close(), before the store.
 * -EINVAL for an invalid name, -EBUSY if a handle on @name is open
 * already, -ENOSPC if the store holds PC_STORE_MAX_REPOS already; in a
 * read-only view (which the handle is too) -ENOENT if the index does not
 * record @name.  @err gets a one-line reason on failure.  One write
 * transaction the first time (a worker, not a FUSE thread).
 */
int pc_store_open_repo(struct pc_store *store, const char *name,
		       struct pc_store **out, char *err, size_t errlen);
/*
 * Which of the repositories @names[0 .. @count-1] (a configuration's, in
 * its order) a daemon that serves them serves from the store's default
 * repository; every other one gets a named handle (pc_store_open_repo).
 * The one copy of the rule, so that the daemon and the tools agree:
 *  - one repository whose name is not configured (@count 1, @names[0]
 *    NULL or ""): it, always (as before repositories);
 *  - the default has a current version: the repository of that
 *    version's name, if it is one of @names; else none (the default
 *    holds another repository's trees, never served as this one's);
 *  - no current version: the first of @names the index does not record
 *    (a fresh cache: the first); else none.
 * Returns its index, -ENOENT if none of them, or another negative errno.
 */
int pc_store_default_owner(struct pc_store *store, const char *const names[],
			   size_t count);
/*
 * The handle of @names[@which] as a daemon serving @names opens it (the
 * rule above): the store's default handle, the one @store came from
 * (*@own false), or a named handle (*@own true: close it before the
 * store).  For the tools, which read what the
 * daemon serves.  0, or a negative errno with @err set (in a read-only
 * view -ENOENT for a name the index does not record).
 */
int pc_store_open_served(struct pc_store *store, const char *const names[],
			 size_t count, size_t which, struct pc_store **out,
			 bool *own, char *err, size_t errlen);
/* @store's repository name; "" for the default repository.  Borrowed,
 * valid as long as the handle. */
const char *pc_store_repo_name(const struct pc_store *store);

struct pc_store_repo_list {
	size_t count;
	char **names; /* sorted; owned by the list */
};
/* The named repositories recorded in the index (not the default one),
 * open or not.  Caller frees with pc_store_repo_list_free(). */
int pc_store_list_repos(struct pc_store *store, struct pc_store_repo_list *out);
void pc_store_repo_list_free(struct pc_store_repo_list *list);

/* ---- chunks -------------------------------------------------------------- */

/*
 * Opens chunk @hash for reading (O_RDONLY|O_CLOEXEC).  Returns an fd the
 * caller closes, or -ENOENT when the chunk is not cached.  Records the
 * access (batched; written at the next flush; not in a read-only view).
 * This is the read hot path: one open(2), no LMDB transaction; none for a
 * chunk that the store knows never had a file (its filter of present
 * chunks, built from the index at open: a chunk file put in chunks/ by
 * anyone but this store is not seen until the store commits that chunk
 * itself).  The same for _present and _size.
 */
int pc_store_chunk_open(struct pc_store *store, const struct pc_hash *hash);
/*
 * The length (fstat) and the close of a descriptor of one of the store's
 * files: a chunk from pc_store_chunk_open, or the store's own tmp files.
 * Every module does these through this pair once threads run (the FUSE
 * threads, the workers, the servers' threads, the loop; only the
 * reconcile at open, before any, does its own), and the pair does nothing
 * else, so that tests/tsan.supp names them once: the files are opened with
 * openat(2), which Debian's libtsan does not intercept, and libuv closes
 * its own descriptors with a raw syscall that it does not see either; so
 * ThreadSanitizer takes a new file's number for the socket or epoll that
 * had it before and reports these calls as races with libuv's use of it.
 * pc_store_fd_size gives a regular file's length, or -1 (fstat failed,
 * or not a regular file: something put in chunks/ by hand).
 */
off_t pc_store_fd_size(int fd);
void pc_store_fd_close(int fd);
bool pc_store_chunk_present(struct pc_store *store, const struct pc_hash *hash);
/*
 * For a reader about to open chunk @hash: if it is cached, has the kernel
 * start reading its file into the page cache (POSIX_FADV_WILLNEED: from
 * its start, up to the disk's read-ahead size: all of a small file) and
 * returns 0, without waiting for the data (the call may still wait for
 * memory, or for room in the disk's queue).  -ENOENT if it is not cached;
 * another -errno if its file could not be opened (cached or not: ask the
 * usual way).  Records no access: the reader's open will.
 */
int pc_store_chunk_read_ahead(struct pc_store *store,
			      const struct pc_hash *hash);
/* Size of cached chunk @hash in *@size, from an fstatat() of its file (the
 * file is the truth, as for pc_store_chunk_open, filter included; the
 * index may lag it by a flush).  -ENOENT if not cached.  No LMDB, no
 * access recorded. */
int pc_store_chunk_size(struct pc_store *store, const struct pc_hash *hash,
			uint64_t *size);
/* Removes chunk @hash (file and index entry), e.g. one found damaged on
 * disk, so that the next read fetches it again.  0 (also if absent) or a
 * negative errno; -EROFS in a read-only view.  One LMDB write transaction:
 * not for a FUSE worker's hot path. */
int pc_store_chunk_discard(struct pc_store *store, const struct pc_hash *hash);

/*
 * A download in progress: bytes go to a file in tmp/ as they arrive.  Two
 * ways to finish it:
 *  - pc_store_tmp_commit() reads the file back, checks its length and
 *    SHA-256, syncs it and renames it in: for objects that do not fit in
 *    memory (manifests), on a worker;
 *  - pc_store_tmp_commit_hashed() takes the SHA-256 that the caller
 *    computed over exactly the bytes it wrote (net/ hashes a chunk's
 *    memory buffer as it writes it), checks it and the length, and renames
 *    the file in without a sync of its own: the file becomes durable, and
 *    gets its index entry, at the next sync point (group commit).
 */
struct pc_store_tmp;

/*
 * A full disk: when creating the file, a write or the rename in commit
 * fails with ENOSPC, the store purges (least recently used first, never
 * pinned or retained chunks, as pc_store_purge) what the download still
 * needs plus PC_STORE_ENOSPC_SLACK, and tries again, once per download.
 * If that does not help the call fails with -ENOSPC (errno ENOSPC), the
 * temporary file is removed at commit or abort, and the index is left
 * exactly as it was.  A failed fdatasync() in commit is not retried (after
 * a failed write-back the bytes cannot be trusted): it purges the same
 * way so that the next attempt has room, and fails.  These purges block
 * the caller for one purge (tens of milliseconds per thousand chunks on
 * ext4; the first writes that hit a full disk pay it).
 */
#define PC_STORE_ENOSPC_SLACK (4u * 1024 * 1024)

/* Caller owns the result; finish with commit or abort.  One thread uses a
 * given tmp at a time.  NULL on failure with errno set: EROFS in a
 * read-only view, EFBIG if @expected_len exceeds PC_MANIFEST_MAX (the
 * largest object; chunks and manifests both come through here),
 * ENOSPC. */
struct pc_store_tmp *pc_store_tmp_begin(struct pc_store *store,
					const struct pc_hash *hash,
					uint64_t expected_len);
/* -EFBIG if the data would exceed the expected length (the caller must
 * abort: the source is sending too much); -ENOSPC, -EIO from the disk. */
int pc_store_tmp_write(struct pc_store_tmp *tmp, const void *data, size_t len);
/* What pc_store_tmp_write_direct() needs to bypass the page cache: the
 * data's address, and the file's length so far, multiples of this. */
#define PC_STORE_DIRECT_ALIGN 4096u
/*
 * As pc_store_tmp_write(), but the whole blocks of @data go to the disk
 * with O_DIRECT, without a copy into the page cache (the rest, and
 * everything where the file system refuses O_DIRECT, is written
 * buffered).  For the bytes of a chunk that its readers already got from
 * memory: a second copy in the page cache would cost a memcpy and the
 * kernel's write-back, and hold the same bytes twice in RAM.  Durability
 * is unchanged: the group commit still syncs the file.  Blocks the
 * caller for the disk's write.
 */
int pc_store_tmp_write_direct(struct pc_store_tmp *tmp, const void *data,
			      size_t len);
/* False where the cache's file system keeps every file in memory anyway
 * (tmpfs, ramfs): there pc_store_tmp_write_direct() copies into the page
 * cache like a buffered write, and a writer does better to write each
 * piece while it is still in the CPU's cache. */
bool pc_store_tmp_bypasses_cache(struct pc_store *store);
uint64_t pc_store_tmp_written(const struct pc_store_tmp *tmp);
/*
 * Verifies length and SHA-256 (reading the file: as long as hashing what
 * was written, and not for the loop thread); on success syncs the file (fdatasync: this
 * blocks for the disk), renames it into chunks/ and queues the index
 * entry; returns 0, also when the chunk was already there (a concurrent
 * download of it won).  -EBADMSG on a hash or length mismatch: the source
 * sent wrong bytes.  If a pc_store_tmp_write() failed, that error instead
 * (-EFBIG, or a local -ENOSPC/-EIO that is not the source's fault).  The
 * file is removed on every error.  Frees @tmp in every case.
 *
 * A new chunk that takes the usage over the quota starts a purge down to
 * the low watermark (PC_STORE_LOW_WATERMARK_PCT of the quota) before
 * commit returns; the new chunk itself is kept.
 */
int pc_store_tmp_commit(struct pc_store_tmp *tmp);
/*
 * The group-commit way (see above): -EBADMSG unless @actual, the SHA-256
 * of every byte written, is the expected hash and the length is right
 * (the source sent wrong bytes); a pc_store_tmp_write() error instead if
 * one happened; else renames the file in (ENOSPC purges and retries once,
 * as above) and returns 0, also when the chunk was already there.  The
 * file is removed on every error; @tmp is freed in every case.  No sync
 * and no purge here, so the caller never waits for the disk: the store's
 * syncer thread syncs the batch of new files (every 50 ms, 32 MiB, 128
 * files, or a quarter of the quota, whichever comes first), then commits
 * their index entries in one LMDB transaction, then purges if the usage
 * is over the quota.  Until then the chunk is readable
 * (pc_store_chunk_open) like any other.
 */
int pc_store_tmp_commit_hashed(struct pc_store_tmp *tmp,
			       const struct pc_hash *actual);
/* Removes the temporary file and frees @tmp. */
void pc_store_tmp_abort(struct pc_store_tmp *tmp);
/* A sync point now: every chunk renamed in by pc_store_tmp_commit_hashed()
 * so far is synced and indexed when this returns (pc_store_close does it
 * too).  0, -EROFS in a read-only view, or the index commit's error. */
int pc_store_sync(struct pc_store *store);

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
	/* opens of cached files of one chunk that the kernel reads from the
	 * chunk file, never asking the daemon (fs/passthrough.c): each one
	 * a hit that is not among PC_CTR_HITS */
	PC_CTR_PASSTHROUGH_OPENS,
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
/* Chunk files in chunks/ right now: the store keeps the totals in memory
 * and updates them on commit, purge, discard and verify, so the quota
 * check is exact.  A read-only view reads what the daemon last flushed. */
int pc_store_usage(struct pc_store *store, struct pc_store_usage *out);

/* ---- quota and purge ------------------------------------------------------ */

/*
 * Two limits (pc_store_options, pc_store_set_limits): a quota on the bytes
 * in chunks/, and a maximum age since a chunk's last access.  Purges take
 * victims in LRU order from the index (no scan: the "lru" table is sorted
 * by last access; access times reach it at each flush, and every purge
 * flushes first).  Each removed chunk is logged at PC_LOG_INFO as
 * "purged content (hash = <hex>, size = <bytes>)" and each purge that
 * removed something ends with "total purged size <bytes>";
 * PC_CTR_PURGED_CHUNKS and PC_CTR_PURGED_BYTES rise.
 *
 * Never purged:
 *  - pinned chunks (pc_store_pin: in-memory reference counts, see below);
 *  - the manifests of the retained versions (current and previous) of
 *    every repository (see "repositories" above).
 * A purge skips them and goes on with the next in LRU order; it never
 * waits for a pin.  So usage can stay above the quota for as long as pins
 * hold more than it: the quota is a target, not a reservation, and
 * nothing ever blocks or fails because of it.  Only a full disk fails a
 * download (see pc_store_tmp_begin).
 *
 * Purges run one at a time, in write transactions of a bounded number of
 * chunks; readers never wait for them (chunk reads are an open(2), tree
 * reads LMDB read transactions), and a chunk already opened stays
 * readable through its fd after it is purged.
 */
#define PC_STORE_LOW_WATERMARK_PCT 90

struct pc_purge_result {
	uint64_t chunks;	/* chunks removed */
	uint64_t bytes;		/* their total size */
	uint64_t kept_pinned;	/* candidates skipped because pinned */
	uint64_t kept_retained; /* ... because a retained manifest */
	uint64_t usage_bytes;	/* live usage afterwards */
};

/* New limits (0 = none), in effect for the next check.  Lowering the
 * quota purges nothing by itself: the next commit over it or
 * pc_store_enforce_limits() does. */
void pc_store_set_limits(struct pc_store *store, uint64_t quota,
			 uint64_t max_age);
/* Purges in LRU order until usage is at most @target_bytes; 0 purges every
 * chunk that is not pinned or retained (peercachectl purge --to SIZE /
 * --all).  @out may be NULL.  -EROFS in a read-only view. */
int pc_store_purge(struct pc_store *store, uint64_t target_bytes,
		   struct pc_purge_result *out);
/* Purges every chunk not accessed within @max_age_s seconds by the
 * store's clock (last access at or before now - @max_age_s).  @out may be
 * NULL. */
int pc_store_purge_aged(struct pc_store *store, uint64_t max_age_s,
			struct pc_purge_result *out);
/* What the daemon's purge timer calls: pc_store_purge_aged() with the
 * max_age limit (if any), then, if usage is over the quota (if any), a
 * purge down to the low watermark.  Results add up in @out (may be NULL). */
int pc_store_enforce_limits(struct pc_store *store,
			    struct pc_purge_result *out);

/*
 * Pins: reference counts in memory (not persisted), any thread.  A chunk
 * that is pinned while it is present stays present until its last unpin
 * (pinning a chunk that is not cached yet is allowed and protects it once
 * it arrives).  0 or -ENOMEM.  Unpinning what is not pinned is a no-op.
 *
 * What fs/ pins: on open, the chunks of a file of at most
 * pc_store_pin_file_limit() bytes (pc_store_pin_chunks), unpinned on
 * release.  A larger file is not pinned whole, or one file could hold
 * more than the whole quota: its chunks stream through the cache, and a
 * read pins just the chunks it waits for, from the moment it is parked
 * until its reply is sent (or it fails).  A read answered from the cache
 * needs no pin: it opens the chunk files first, and a purge that follows
 * only unlinks them.  net/ pins a new version's manifest from its download
 * until pc_store_install() returns: until then it is not retained.
 */
int pc_store_pin(struct pc_store *store, const struct pc_hash *hash);
void pc_store_unpin(struct pc_store *store, const struct pc_hash *hash);
/* All of @chunks or none (-ENOMEM); duplicates are counted twice and
 * unpinned twice by pc_store_unpin_chunks with the same list. */
int pc_store_pin_chunks(struct pc_store *store,
			const struct pc_chunk_ref *chunks, size_t count);
void pc_store_unpin_chunks(struct pc_store *store,
			   const struct pc_chunk_ref *chunks, size_t count);
bool pc_store_pinned(struct pc_store *store, const struct pc_hash *hash);
/* Largest file whose chunks fs/ pins for as long as it is open: a quarter
 * of the quota (UINT64_MAX without a quota). */
uint64_t pc_store_pin_file_limit(struct pc_store *store);

/* ---- verification ----------------------------------------------------------- */

struct pc_verify_result {
	uint64_t checked;   /* index entries looked at */
	uint64_t bytes;	    /* bytes read and hashed */
	uint64_t bad;	    /* removed: wrong size or hash, unreadable or
			       missing file */
	uint64_t bad_bytes; /* their indexed size */
};

/*
 * Re-hashes every indexed chunk (after a flush); each bad one is logged
 * (PC_LOG_WARN), its file and index entry removed, so that the next read
 * fetches it again (peercachectl verify).  Slow (it reads the whole
 * cache): call it on a worker thread.  It holds no transaction while it
 * reads; removals are short write transactions per batch, so reads and
 * purges go on meanwhile.  -EROFS in a read-only view.  @out may be NULL.
 */
int pc_store_verify(struct pc_store *store, struct pc_verify_result *out);

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

/* Maps the current version's tree (within a bound) into this process's
 * view of the index, so that lookups after the page cache was dropped do
 * not wait for the disk (warm.c).  For after an install, a rollback or a
 * release, which drop this process's view of the whole index (every
 * repository's tree), and at start.  Any thread; best effort; returns
 * early once *@stop is set. */
void pc_store_warm(struct pc_store *store, const atomic_bool *stop);
/* The version reads use now, and the one before it.  -ENOENT if none. */
int pc_store_current(struct pc_store *store, struct pc_store_version *out);
int pc_store_previous(struct pc_store *store, struct pc_store_version *out);
/* The highest version ever accepted (0 if none); survives restarts and is
 * what rollback protection compares against. */
uint64_t pc_store_highest_version(struct pc_store *store);
/* The digest of the head accepted with @version (pc_head.digest), kept with
 * the highest version so that a different head of that version is known
 * for the equivocation it is, also after a restart.  0, or -ENOENT if
 * none is recorded for @version (an older version, a cache from before
 * the record, a head built in memory). */
int pc_store_head_digest(struct pc_store *store, uint64_t version,
			 struct pc_hash *out);

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

/* ---- rollback: the previous version, held ----------------------------------
 *
 * peercachectl rollback switches reads back to the previous version and
 * holds it: the hold is persisted in the index (a restart keeps it), and
 * pc_store_install() refuses a new version (-EBUSY) while it lasts.  Both
 * versions stay retained; the highest accepted version does not change.
 * Each is one LMDB write transaction, synced: call them on a worker.  On
 * success @changes (may be NULL) receives the names to invalidate, as
 * pc_store_install() gives them (caller frees with pc_store_changes_free).
 */

/* The previous version becomes current (and the current one previous) and
 * is held.  -EALREADY if a version is held already, -ENOENT if there is no
 * previous version, -EROFS in a read-only view. */
int pc_store_rollback(struct pc_store *store, struct pc_store_changes *changes);
/* Releases the hold: if the other retained version is newer than the held
 * one, it becomes current again.  0 also when nothing was held (then
 * @changes stays empty).  -EROFS in a read-only view. */
int pc_store_release_hold(struct pc_store *store,
			  struct pc_store_changes *changes);
/* The version held by pc_store_rollback() (0: none). */
uint64_t pc_store_held_version(struct pc_store *store);

/*
 * Installs @m (already verified against @head by the caller) as the new
 * current version, synced to disk: inodes are
 * reused for unchanged entries and allocated for new ones, the previous
 * current becomes previous, older trees are dropped, and the highest
 * accepted version is raised (and the head's digest recorded with it).  -ESTALE if head->version is not higher than
 * the highest ever accepted; -EBUSY while a version is held (rollback,
 * above).  -EINVAL if @m is not sorted with every parent
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
/*
 * The same from a manifest stream (pc_manifest_stream_open), written as
 * it is read, in bounded write transactions, so that no whole tree is held
 * in memory: a manifest of a million entries installs in a few MB.  Readers
 * see the new version only when it is complete.  @between (may be NULL)
 * runs with @arg between two transactions: the caller may let go of what
 * the stream has consumed.  -EBADMSG (-EPROTONOSUPPORT, ...) from the
 * stream and -EINVAL (a parent that is not a directory before its child)
 * come with @why; the others as pc_store_install().
 */
int pc_store_install_stream(struct pc_store *store, const struct pc_head *head,
			    struct pc_manifest_stream *stream,
			    void (*between)(void *arg), void *arg,
			    struct pc_store_changes *changes, char *why,
			    size_t whylen);

/* ---- held inodes: open across versions and restarts (held.c) ------------------
 *
 * Only two versions' trees are kept; a file or directory open when its
 * version is dropped is kept as a "held" record, so that the process that
 * serves the mount next (a restart, a crash) can open the kernel's handle
 * of it again: pc_store_inode() and pc_store_list() find held records
 * too.  fs/ says what it has open; the records go once nothing needs them
 * (see held.c for when).  Any thread; the counts live in memory.
 */

/* One more (or one less) handle open on @ino.  0 or -ENOMEM. */
int pc_store_inode_hold(struct pc_store *store, uint64_t ino);
void pc_store_inode_release(struct pc_store *store, uint64_t ino);
/* Whether every handle of the mount is counted here (true at open: a
 * process that mounted, or took the mount over with the whole list of
 * open files).  False: records no handle here holds age out (7 days)
 * instead of going at once. */
void pc_store_held_exact(struct pc_store *store, bool exact);
/* After a crash: handles of the dead process may be adopted later, so
 * until the second install from now every inode of the versions retained
 * now is kept as it drops (and ages out), and exact is false.  One
 * synced write transaction.  0 or a negative errno. */
int pc_store_held_presume(struct pc_store *store);
/* A fresh mount (no handle of an earlier one exists): every held record
 * goes.  0 or a negative errno. */
int pc_store_held_clear(struct pc_store *store);

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
 * handles survive), or a held one (above).  -ESTALE if it belongs to
 * neither.  A directory has the attributes of the current version, else
 * of the previous one.  PC_ROOT_INO always exists: before the first install it is
 * an empty directory with mode 0755 and mtime 0. */
int pc_store_inode(struct pc_store *store, uint64_t ino, struct pc_inode *out);

/*
 * Read-ahead across files: the chunks of the regular files that follow
 * @after in directory @parent of the current version, in name order (the
 * manifest's), at most @max_files files and @max_bytes bytes, into @refs
 * (at most @max_refs; a file whose chunks do not all fit ends the list).
 * @first and @last (PC_NAME_MAX + 1 bytes each) get the first and the
 * last file's names, "" if none.  Returns how many refs, or a negative
 * errno.  One read transaction.
 */
int pc_store_files_after(struct pc_store *store, uint64_t parent,
			 const char *after, size_t max_files,
			 uint64_t max_bytes, struct pc_chunk_ref *refs,
			 size_t max_refs, char *first, char *last);

struct pc_dirent {
	uint64_t ino;
	enum pc_entry_type type;
	char *name; /* owned by the listing */
};

struct pc_dir_listing {
	size_t count;
	struct pc_dirent *entries; /* sorted by name */
};
/* Snapshot of directory @dir in @version; 0: the newest retained version
 * that has it, else its held listing.  Caller frees with
 * pc_dir_listing_free().  Errors as for pc_store_lookup(). */
int pc_store_list(struct pc_store *store, uint64_t version, uint64_t dir,
		  struct pc_dir_listing *out);
void pc_dir_listing_free(struct pc_dir_listing *listing);

#endif /* PC_STORE_H */
