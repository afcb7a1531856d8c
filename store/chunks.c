/*
 * chunks.c - chunk files: the read hot path, downloads in tmp/, removals,
 * and the chunk index entries.
 *
 * A chunk's file is the truth about whether it is cached: readers do one
 * openat() of chunks/ab/<hex> and never touch LMDB, so a cache hit costs a
 * single syscall, and a miss none when the store's filter (present.c)
 * knows the chunk never had a file.  A download is written to tmp/ and
 * only renamed into chunks/ once its length and SHA-256 are checked, so a
 * reader can never open a partial or unverified file.  Chunks (net/
 * hashes them in memory as it writes them) take
 * pc_store_tmp_commit_hashed: renamed in with no sync, made durable and
 * indexed in batches by the group commit (commit.c).  Larger objects
 * take pc_store_tmp_commit: read back, hashed, synced, renamed; their
 * index entry waits for the next flush.  Either way no index entry names
 * a file whose data was not synced, and until the entry is there only the
 * purge's view of the chunk lags, never a reader's (every purge runs a
 * sync point first).

 * The live usage (bytes and files in chunks/) changes exactly where files
 * do: a rename that put a new file in place adds, an unlink that removed
 * one subtracts.  So it is right even while index entries wait for a
 * flush, and two removers of one chunk cannot both count it.
 *
 * Removals unlink the file first and delete the index entry after: a crash
 * in between leaves an entry without a file, which the reconcile at the
 * next start drops (reconcile.c), and a full disk gets its space back
 * before LMDB needs some to commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "internal.h"

#define TMP_SUFFIX_LEN 16

struct pc_store_tmp {
	struct pc_store *store;
	struct pc_hash hash;
	uint64_t expected_len;
	uint64_t written;
	int fd;
	int error;   /* first failed write; commit returns it */
	bool purged; /* made room after ENOSPC once already */
	bool direct; /* the fd has O_DIRECT on */
	char name[PC_HASH_HEX_LEN + 1 + TMP_SUFFIX_LEN + 1];
};

void store_chunk_path(const struct pc_hash *hash, char *out)
{
	char hex[PC_HASH_HEX_LEN + 1];

	pc_hash_to_hex(hash, hex);
	snprintf(out, STORE_CHUNK_PATH_LEN, "%.2s/%s", hex, hex);
}

/* ---- reads --------------------------------------------------------------- */

/* Queues an access time for the next flush; drops it if the queue is full
 * or the same chunk was the last one read (sequential reads). */
static void record_access(struct pc_store *store, const struct pc_hash *hash)
{
	int64_t now = store_now(store);
	struct store_access *last;

	pthread_mutex_lock(&store->queue_lock);
	last = store->accesses_count
		       ? &store->accesses[store->accesses_count - 1]
		       : NULL;
	if (last && pc_hash_equal(&last->hash, hash)) {
		last->atime = now;
	} else if (store->accesses_count < STORE_HINTS_MAX) {
		store->accesses[store->accesses_count].hash = *hash;
		store->accesses[store->accesses_count].atime = now;
		store->accesses_count++;
	}
	pthread_mutex_unlock(&store->queue_lock);
}

/* Chunk @hash's file, open for reading: an fd, -ENOENT, or -errno. */
static int chunk_file_open(struct pc_store *store, const struct pc_hash *hash)
{
	char path[STORE_CHUNK_PATH_LEN];
	int fd;

	if (!store_present_maybe(store, hash))
		return -ENOENT;
	store_chunk_path(hash, path);
	fd = openat(store->chunks_fd, path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int pc_store_chunk_open(struct pc_store *store, const struct pc_hash *hash)
{
	int fd;

	store = store->base; /* chunk-level: any repository's handle */

	fd = chunk_file_open(store, hash);
	if (fd >= 0 && !store->readonly)
		record_access(store, hash);
	return fd;
}

__attribute__((noinline)) off_t pc_store_fd_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	return S_ISREG(st.st_mode) ? st.st_size : -1;
}

__attribute__((noinline)) void pc_store_fd_close(int fd)
{
	close(fd);
}

bool pc_store_chunk_present(struct pc_store *store, const struct pc_hash *hash)
{
	char path[STORE_CHUNK_PATH_LEN];

	store = store->base; /* chunk-level: any repository's handle */

	if (!store_present_maybe(store, hash))
		return false;
	store_chunk_path(hash, path);
	return faccessat(store->chunks_fd, path, F_OK, 0) == 0;
}

int pc_store_chunk_read_ahead(struct pc_store *store,
			      const struct pc_hash *hash)
{
	int fd;

	store = store->base; /* chunk-level: any repository's handle */

	fd = chunk_file_open(store, hash);
	if (fd < 0)
		return fd;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED); /* a hint */
	pc_store_fd_close(fd);
	return 0;
}

int pc_store_chunk_size(struct pc_store *store, const struct pc_hash *hash,
			uint64_t *size)
{
	char path[STORE_CHUNK_PATH_LEN];
	struct stat st;

	store = store->base; /* chunk-level: any repository's handle */

	if (!store_present_maybe(store, hash))
		return -ENOENT;
	store_chunk_path(hash, path);
	if (fstatat(store->chunks_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOENT;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* ---- removals ------------------------------------------------------------- */

static void usage_sub(struct pc_store *store, uint64_t size)
{
	atomic_fetch_sub(&store->usage_chunks, 1);
	atomic_fetch_sub(&store->usage_bytes, size);
}

int store_unlink_chunk(struct pc_store *store, const struct pc_hash *hash,
		       uint64_t size)
{
	char path[STORE_CHUNK_PATH_LEN];

	store_chunk_path(hash, path);
	if (unlinkat(store->chunks_fd, path, 0) < 0)
		return -errno;
	usage_sub(store, size);
	return 0;
}

int store_remove_chunk(struct pc_store *store, const struct pc_hash *hash)
{
	struct store_usage_delta usage = { 0, 0 };
	struct store_chunk_rec rec;
	uint64_t size = 0;
	MDB_txn *txn;
	int rc;

	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	/* The live usage counted the size committed, which the index has;
	 * a damaged file may have another. */
	rc = store_index_get(store, txn, hash, &rec);
	if (rc == 0)
		size = rec.size;
	else if (rc == -ENOENT || rc == -EIO)
		rc = pc_store_chunk_size(store, hash, &size);
	if (rc == 0)
		rc = store_unlink_chunk(store, hash, size);
	if (rc == 0 || rc == -ENOENT)
		rc = store_index_drop(store, txn, hash, &usage);
	if (rc >= 0)
		rc = store_usage_apply(store, txn, &usage);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn, "removing a chunk");
}

int pc_store_chunk_discard(struct pc_store *store, const struct pc_hash *hash)
{
	store = store->base; /* chunk-level: any repository's handle */
	if (store->readonly)
		return -EROFS;
	return store_remove_chunk(store, hash);
}

/* ---- downloads ------------------------------------------------------------ */

bool store_warn_due(struct store_warn_limit *lim, uint64_t *held)
{
	struct timespec ts;
	int64_t last = atomic_load(&lim->last), now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec + 1; /* never 0, which means "never" */
	if ((last && now - last < STORE_WARN_INTERVAL_S) ||
	    !atomic_compare_exchange_strong(&lim->last, &last, now)) {
		atomic_fetch_add(&lim->held, 1);
		return false;
	}
	*held = atomic_exchange(&lim->held, 0);
	return true;
}

/* A suffix no other download of this process used: tmp/ belongs to the
 * one process that holds the cache lock, and start-up empties it, so a
 * counter is unique enough (and costs no syscall, unlike getrandom, for
 * every small file). */
static uint64_t tmp_suffix(void)
{
	static _Atomic uint64_t sequence;

	return atomic_fetch_add(&sequence, 1);
}

static void tmp_free(struct pc_store_tmp *tmp)
{
	if (tmp->fd >= 0)
		pc_store_fd_close(tmp->fd);
	free(tmp);
}

/*
 * The one retry after ENOSPC: true if this download has not had it yet
 * and a purge freed something for what it still needs.
 */
static bool made_room(struct pc_store_tmp *tmp)
{
	if (tmp->purged)
		return false;
	tmp->purged = true;
	return store_make_room(tmp->store, tmp->expected_len - tmp->written) ==
	       0;
}

/* Creates the file in tmp/ under a fresh random name; -errno. */
static int create_tmp_file(struct pc_store_tmp *tmp)
{
	struct pc_store *store = tmp->store;
	char hex[PC_HASH_HEX_LEN + 1];
	int err;

	pc_hash_to_hex(&tmp->hash, hex);
	for (int attempt = 0; attempt < 8; attempt++) {
		snprintf(tmp->name, sizeof(tmp->name), "%s.%016" PRIx64, hex,
			 tmp_suffix());
		tmp->fd = openat(store->tmp_fd, tmp->name,
				 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (tmp->fd >= 0)
			return 0;
		err = errno;
		if (err == ENOSPC && made_room(tmp))
			continue;
		if (err != EEXIST)
			return -err;
	}
	return -EEXIST;
}

struct pc_store_tmp *pc_store_tmp_begin(struct pc_store *store,
					const struct pc_hash *hash,
					uint64_t expected_len)
{
	struct pc_store_tmp *tmp;
	int rc;

	store = store->base; /* chunk-level: any repository's handle */

	if (store->readonly) {
		errno = EROFS;
		return NULL;
	}
	/* Manifests are the largest objects. */
	if (expected_len > PC_MANIFEST_MAX) {
		errno = EFBIG;
		return NULL;
	}
	tmp = calloc(1, sizeof(*tmp));
	if (!tmp)
		return NULL;
	tmp->store = store;
	tmp->hash = *hash;
	tmp->expected_len = expected_len;
	tmp->fd = -1;
	rc = create_tmp_file(tmp);
	if (rc < 0) {
		tmp_free(tmp);
		errno = -rc;
		return NULL;
	}
	return tmp;
}

/* O_DIRECT on or off for @tmp's fd; true if it is as asked. */
static bool direct_set(struct pc_store_tmp *tmp, bool on)
{
	int flags = fcntl(tmp->fd, F_GETFL);

	if (flags < 0)
		return false;
	flags = on ? flags | O_DIRECT : flags & ~O_DIRECT;
	if (fcntl(tmp->fd, F_SETFL, flags) < 0)
		return false;
	tmp->direct = on;
	return true;
}

static bool direct_off(struct pc_store_tmp *tmp)
{
	return direct_set(tmp, false);
}

/* Writes @len bytes at the end of the file; -errno, kept in tmp->error.
 * An O_DIRECT write that the file system refuses (EINVAL: the alignment
 * it wants is larger, or it has no direct I/O after all) goes on
 * buffered: @tmp->direct says which way the bytes go. */
/* write(2) to a tmp file, in a function of its own for ThreadSanitizer
 * (tests/tsan.supp): Debian's libtsan does not intercept openat(2), so it
 * takes a tmp file's number for the socket that had it before (libuv's
 * accept4) and reports the write as a race with it.  The bytes written
 * were hashed by the same thread, or verified before it got them. */
static __attribute__((noinline)) ssize_t tmp_fd_write(int fd, const void *buf,
						      size_t len)
{
	return write(fd, buf, len);
}

static int write_all(struct pc_store_tmp *tmp, const uint8_t *pos, size_t left)
{
	ssize_t n;
	int err;

	while (left) {
		n = tmp_fd_write(tmp->fd, pos, left);
		err = n < 0 ? errno : EIO;
		if (n < 0 && err == EINTR)
			continue;
		if (n < 0 && err == ENOSPC && made_room(tmp))
			continue;
		if (n < 0 && err == EINVAL && tmp->direct && direct_off(tmp))
			continue;
		if (n <= 0) {
			tmp->error = -err;
			return tmp->error;
		}
		pos += n;
		left -= (size_t)n;
		tmp->written += (uint64_t)n;
	}
	return 0;
}

/* -EFBIG (kept) if @len more bytes would pass the expected length. */
static int check_room(struct pc_store_tmp *tmp, size_t len)
{
	if (!tmp->error && len > tmp->expected_len - tmp->written)
		tmp->error = -EFBIG;
	return tmp->error;
}

int pc_store_tmp_write(struct pc_store_tmp *tmp, const void *data, size_t len)
{
	int rc = check_room(tmp, len);

	return rc < 0 ? rc : write_all(tmp, data, len);
}

bool pc_store_tmp_bypasses_cache(struct pc_store *store)
{
	struct statfs st;

	if (fstatfs(store->tmp_fd, &st) < 0)
		return false;
	return st.f_type != TMPFS_MAGIC && st.f_type != RAMFS_MAGIC;
}

int pc_store_tmp_write_direct(struct pc_store_tmp *tmp, const void *data,
			      size_t len)
{
	size_t blocks = len / PC_STORE_DIRECT_ALIGN * PC_STORE_DIRECT_ALIGN;
	const uint8_t *pos = data;
	int rc = check_room(tmp, len);

	if (rc < 0)
		return rc;
	if (blocks && tmp->written % PC_STORE_DIRECT_ALIGN == 0 &&
	    (uintptr_t)pos % PC_STORE_DIRECT_ALIGN == 0 &&
	    direct_set(tmp, true)) {
		rc = write_all(tmp, pos, blocks);
		if (tmp->direct)
			direct_off(tmp); /* else the tail's write does */
		if (rc < 0)
			return rc;
		pos += blocks;
		len -= blocks;
	}
	return write_all(tmp, pos, len);
}

uint64_t pc_store_tmp_written(const struct pc_store_tmp *tmp)
{
	return tmp->written;
}

/* The file as it is now: what the rename puts in place. */
static int verify(struct pc_store_tmp *tmp)
{
	struct pc_hash actual;
	uint64_t size;
	int rc;

	if (tmp->error)
		return tmp->error;
	if (tmp->written != tmp->expected_len)
		return -EBADMSG;
	rc = store_hash_fd(tmp->fd, &actual, &size);
	if (rc < 0)
		return rc;
	if (size != tmp->written || !pc_hash_equal(&actual, &tmp->hash))
		return -EBADMSG;
	return 0;
}

void store_queue_new_chunk(struct pc_store *store, const struct pc_hash *hash,
			   uint64_t size, int64_t atime)
{
	struct store_new_chunk *grown;
	size_t cap;

	pthread_mutex_lock(&store->queue_lock);
	if (store->new_chunks_count == store->new_chunks_cap) {
		cap = store->new_chunks_cap ? 2 * store->new_chunks_cap : 64;
		grown = realloc(store->new_chunks, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&store->queue_lock);
			atomic_store(&store->index_incomplete, true);
			store_log(store, PC_LOG_WARN,
				  "out of memory: a new chunk is indexed at "
				  "the next start");
			return;
		}
		store->new_chunks = grown;
		store->new_chunks_cap = cap;
	}
	store->new_chunks[store->new_chunks_count].hash = *hash;
	store->new_chunks[store->new_chunks_count].size = size;
	store->new_chunks[store->new_chunks_count].atime = atime;
	store->new_chunks_count++;
	pthread_mutex_unlock(&store->queue_lock);
}

/* renameat2(RENAME_NOREPLACE) of tmp/@name to chunks/@path; -errno. */
static int rename_noreplace(struct pc_store *store, const char *name,
			    const char *path)
{
	if (renameat2(store->tmp_fd, name, store->chunks_fd, path,
		      RENAME_NOREPLACE) == 0)
		return 0;
	return -errno;
}

/* Renames the verified file into chunks/ab/<hex> (making ab/ the first
 * time it is missing).  Returns 1 if the chunk was already there (a
 * concurrent download won the race). */
static int rename_into_place(struct pc_store_tmp *tmp)
{
	struct pc_store *store = tmp->store;
	char path[STORE_CHUNK_PATH_LEN];
	int rc;

	store_chunk_path(&tmp->hash, path);
	rc = rename_noreplace(store, tmp->name, path);
	if (rc == -ENOENT) {
		path[2] = '\0';
		if (mkdirat(store->chunks_fd, path, 0755) < 0 &&
		    errno != EEXIST)
			return -errno;
		path[2] = '/';
		rc = rename_noreplace(store, tmp->name, path);
	}
	if (rc == 0 || rc == -EEXIST)
		return rc == 0 ? 0 : 1;
	if (rc != -EINVAL && rc != -ENOSYS)
		return rc;
	/* No RENAME_NOREPLACE on this file system: replacing a verified
	 * chunk with identical verified bytes is harmless, but the usage
	 * must not count it twice, so look first (racy only against a
	 * concurrent download of the same chunk). */
	if (faccessat(store->chunks_fd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return renameat(store->tmp_fd, tmp->name, store->chunks_fd, path) < 0
		       ? -errno
		       : 0;
}

/* rename_into_place, then the chunk's bits in the filter (present.c) once
 * its file is there: a set bit never names a file not yet in place (a
 * lookup in between finds it missing, as one just before would). */
static int move_into_place(struct pc_store_tmp *tmp)
{
	int rc = rename_into_place(tmp);

	if (rc >= 0)
		store_present_mark(tmp->store, &tmp->hash);
	return rc;
}

/* Renames @tmp in (a full disk purges once); 0, 1 if the chunk was there
 * already, or -errno. */
static int move_with_room(struct pc_store_tmp *tmp)
{
	int rc = move_into_place(tmp);

	if (rc == -ENOSPC && made_room(tmp))
		rc = move_into_place(tmp);
	return rc;
}

/* fdatasync, then the rename; each ENOSPC purges (see pc_store.h). */
static int sync_and_move(struct pc_store_tmp *tmp)
{
	int rc;

	/* The index entry may be durable before the file's data would be:
	 * sync first, so that no index entry ever names unwritten bytes. */
	if (fdatasync(tmp->fd) < 0) {
		rc = -errno;
		/* Not retried: after a failed write-back the page cache may
		 * no longer hold what we wrote.  Make room for next time. */
		if (rc == -ENOSPC)
			store_make_room(tmp->store, tmp->written);
		return rc;
	}
	return move_with_room(tmp);
}

int pc_store_tmp_commit(struct pc_store_tmp *tmp)
{
	struct pc_store *store = tmp->store;
	struct pc_hash hash = tmp->hash;
	uint64_t size = tmp->written;
	int rc = verify(tmp);

	if (rc == 0)
		rc = sync_and_move(tmp);
	if (rc == 0) {
		atomic_fetch_add(&store->usage_chunks, 1);
		atomic_fetch_add(&store->usage_bytes, size);
		store_queue_new_chunk(store, &hash, size, store_now(store));
	}
	if (rc != 0)
		unlinkat(store->tmp_fd, tmp->name, 0); /* rc 1: duplicate */
	tmp_free(tmp);
	if (rc == 0)
		store_quota_check(store, &hash);
	return rc < 0 ? rc : 0;
}

/* True if the index has an entry for @hash (errors read as true). */
static bool indexed(struct pc_store *store, const struct pc_hash *hash)
{
	struct store_chunk_rec rec;
	MDB_txn *txn;
	int rc = store_txn_begin(store, MDB_RDONLY, &txn);

	if (rc < 0)
		return true;
	rc = store_index_get(store, txn, hash, &rec);
	mdb_txn_abort(txn);
	return rc != -ENOENT;
}

/*
 * An entry for a chunk whose file is not there is a purge caught between
 * its unlink and its commit (or a crash's leftover): if the new file went
 * in unsynced and the power were cut before that commit, the entry would
 * name bytes that never reached the disk.  Such a file is synced before
 * it goes in (rare: a chunk fetched again at the moment it is purged).
 */
static int sync_if_indexed(struct pc_store_tmp *tmp)
{
	if (!indexed(tmp->store, &tmp->hash))
		return 0;
	return fdatasync(tmp->fd) < 0 ? -errno : 0;
}

int pc_store_tmp_commit_hashed(struct pc_store_tmp *tmp,
			       const struct pc_hash *actual)
{
	struct pc_store *store = tmp->store;
	int rc = tmp->error;

	if (rc == 0 && (tmp->written != tmp->expected_len ||
			!pc_hash_equal(actual, &tmp->hash)))
		rc = -EBADMSG;
	if (rc == 0)
		rc = sync_if_indexed(tmp);
	if (rc == 0)
		rc = move_with_room(tmp);
	if (rc == 0) {
		atomic_fetch_add(&store->usage_chunks, 1);
		atomic_fetch_add(&store->usage_bytes, tmp->written);
		/* The fd goes with the file: its sync point syncs it. */
		store_commit_add(store, &tmp->hash, tmp->written, tmp->fd);
		tmp->fd = -1;
	} else {
		unlinkat(store->tmp_fd, tmp->name, 0); /* rc 1: duplicate */
	}
	tmp_free(tmp);
	return rc < 0 ? rc : 0;
}

void pc_store_tmp_abort(struct pc_store_tmp *tmp)
{
	if (!tmp)
		return;
	unlinkat(tmp->store->tmp_fd, tmp->name, 0);
	tmp_free(tmp);
}

/* ---- index entries --------------------------------------------------------- */

static MDB_val hash_key(const struct pc_hash *hash)
{
	MDB_val key = { PC_HASH_LEN, (void *)hash->bytes };

	return key;
}

int store_index_get(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash, struct store_chunk_rec *rec)
{
	MDB_val key = hash_key(hash), val;
	int rc = store_mdb_error("reading the chunk index",
				 mdb_get(txn, store->dbi.chunks, &key, &val));

	if (rc == 0 && store_chunk_rec_decode(&val, rec) < 0)
		rc = -EIO;
	return rc;
}

static int put_chunk_rec(struct pc_store *store, MDB_txn *txn,
			 const struct pc_hash *hash,
			 const struct store_chunk_rec *rec)
{
	uint8_t buf[STORE_CHUNK_REC_LEN], lru[STORE_LRU_KEY_LEN];
	MDB_val key = hash_key(hash), val = { sizeof(buf), buf };
	MDB_val lru_key = { sizeof(lru), lru }, empty = { 0, NULL };
	int rc;

	store_chunk_rec_encode(rec, buf);
	rc = store_mdb_error("writing the chunk index",
			     mdb_put(txn, store->dbi.chunks, &key, &val, 0));
	store_lru_key(rec->atime, hash, lru);
	if (rc == 0)
		rc = store_mdb_error(
			"writing the chunk index",
			mdb_put(txn, store->dbi.lru, &lru_key, &empty, 0));
	return rc;
}

static int del_lru(struct pc_store *store, MDB_txn *txn,
		   const struct pc_hash *hash, int64_t atime)
{
	uint8_t lru[STORE_LRU_KEY_LEN];
	MDB_val lru_key = { sizeof(lru), lru };
	int rc;

	store_lru_key(atime, hash, lru);
	rc = store_mdb_error("updating the chunk index",
			     mdb_del(txn, store->dbi.lru, &lru_key, NULL));
	return rc == -ENOENT ? 0 : rc;
}

int store_index_add(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash, uint64_t size, int64_t atime,
		    struct store_usage_delta *usage)
{
	struct store_chunk_rec rec;
	int rc = store_index_get(store, txn, hash, &rec);

	if (rc != -ENOENT)
		return rc; /* 0: already indexed */
	rec.size = size;
	rec.atime = atime;
	rec.flags = 0;
	rc = put_chunk_rec(store, txn, hash, &rec);
	if (rc == 0) {
		usage->chunks++;
		usage->bytes += (int64_t)size;
	}
	return rc;
}

int store_index_del(struct pc_store *store, MDB_txn *txn,
		    const struct pc_hash *hash, struct store_usage_delta *usage)
{
	struct store_chunk_rec rec;
	MDB_val key = hash_key(hash);
	int rc = store_index_get(store, txn, hash, &rec);

	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		usage->chunks--;
		usage->bytes -= (int64_t)rec.size;
		rc = del_lru(store, txn, hash, rec.atime);
	} else if (rc == -EIO) {
		rc = 0; /* a malformed record goes as well */
	}
	if (rc == 0)
		rc = store_mdb_error(
			"updating the chunk index",
			mdb_del(txn, store->dbi.chunks, &key, NULL));
	return rc;
}

int store_index_drop(struct pc_store *store, MDB_txn *txn,
		     const struct pc_hash *hash,
		     struct store_usage_delta *usage)
{
	int64_t chunks_before = usage->chunks;
	int rc;

	/* Deleted even if a new download renamed the chunk in again since
	 * the unlink: that file may not be synced yet, and an entry must
	 * never name unsynced bytes.  Its own sync point indexes it (or, if
	 * that one came first, the next start does). */
	rc = store_index_del(store, txn, hash, usage);
	if (rc < 0)
		return rc;
	return usage->chunks < chunks_before ? 1 : 0;
}

int store_index_touch(struct pc_store *store, MDB_txn *txn,
		      const struct pc_hash *hash, int64_t atime)
{
	struct store_chunk_rec rec;
	int rc = store_index_get(store, txn, hash, &rec);

	if (rc == -ENOENT)
		return 0; /* read before its entry was flushed */
	if (rc < 0 || rec.atime >= atime)
		return rc;
	rc = del_lru(store, txn, hash, rec.atime);
	rec.atime = atime;
	if (rc == 0)
		rc = put_chunk_rec(store, txn, hash, &rec);
	return rc;
}
