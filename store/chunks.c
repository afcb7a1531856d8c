/*
 * chunks.c - chunk files: the read hot path, downloads in tmp/, the chunk
 * index entries, and the start-up reconcile.
 *
 * A chunk's file is the truth about whether it is cached: readers do one
 * openat() of chunks/ab/<hex> and never touch LMDB, so a cache hit costs a
 * single syscall.  A download is written to tmp/, hashed as it arrives,
 * checked, synced and only then renamed into chunks/, so a reader can never
 * open a partial or unverified file.  The index entry (size, last access,
 * LRU position) follows at the next flush; until then only the purge's view
 * of the chunk lags, never a reader's.
 *
 * Because the rename and the index commit are two steps, a crash can leave
 * a file without an entry or an entry without a file.  The reconcile at
 * start-up repairs both directions: unindexed files are re-hashed and
 * indexed or removed, entries without a file of the right size are
 * dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define TMP_SUFFIX_LEN 16
#define HASH_READ_BUF (1024 * 1024)

struct pc_store_tmp {
	struct pc_store *store;
	struct pc_hash hash;
	uint64_t expected_len;
	uint64_t written;
	int fd;
	int error; /* first failed write; commit returns it */
	struct pc_sha256_ctx *sha;
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
	int64_t now = time(NULL);
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

int pc_store_chunk_open(struct pc_store *store, const struct pc_hash *hash)
{
	char path[STORE_CHUNK_PATH_LEN];
	int fd;

	store_chunk_path(hash, path);
	fd = openat(store->chunks_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!store->readonly)
		record_access(store, hash);
	return fd;
}

int pc_store_chunk_discard(struct pc_store *store, const struct pc_hash *hash)
{
	struct store_usage_delta usage = { 0, 0 };
	char path[STORE_CHUNK_PATH_LEN];
	MDB_txn *txn;
	int rc;

	if (store->readonly)
		return -EROFS;
	store_chunk_path(hash, path);
	if (unlinkat(store->chunks_fd, path, 0) < 0 && errno != ENOENT)
		return -errno;
	/* The file is gone first: an index entry without a file is what a
	 * crash in between leaves, and start-up drops those. */
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = store_index_del(store, txn, hash, &usage);
	if (rc == 0)
		rc = store_usage_apply(store, txn, &usage);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn, "discarding a chunk");
}

bool pc_store_chunk_present(struct pc_store *store, const struct pc_hash *hash)
{
	char path[STORE_CHUNK_PATH_LEN];

	store_chunk_path(hash, path);
	return faccessat(store->chunks_fd, path, F_OK, 0) == 0;
}

/* ---- downloads ------------------------------------------------------------ */

static uint64_t random_suffix(void)
{
	static _Atomic uint64_t sequence;
	uint64_t value;

	if (getrandom(&value, sizeof(value), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(value))
		return value;
	/* Early boot without entropy: unique enough within tmp/, which
	 * only this process uses. */
	return ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
	       atomic_fetch_add(&sequence, 1);
}

static void tmp_free(struct pc_store_tmp *tmp)
{
	if (tmp->fd >= 0)
		close(tmp->fd);
	pc_sha256_free(tmp->sha);
	free(tmp);
}

struct pc_store_tmp *pc_store_tmp_begin(struct pc_store *store,
					const struct pc_hash *hash,
					uint64_t expected_len)
{
	char hex[PC_HASH_HEX_LEN + 1];
	struct pc_store_tmp *tmp;
	int saved;

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
	tmp->sha = pc_sha256_new();
	if (!tmp->sha) {
		tmp_free(tmp);
		errno = ENOMEM;
		return NULL;
	}
	pc_hash_to_hex(hash, hex);
	for (int attempt = 0; tmp->fd < 0 && attempt < 8; attempt++) {
		snprintf(tmp->name, sizeof(tmp->name), "%s.%016" PRIx64, hex,
			 random_suffix());
		tmp->fd = openat(store->tmp_fd, tmp->name,
				 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (tmp->fd < 0 && errno != EEXIST)
			break;
	}
	if (tmp->fd < 0) {
		saved = errno;
		tmp_free(tmp);
		errno = saved;
		return NULL;
	}
	return tmp;
}

int pc_store_tmp_write(struct pc_store_tmp *tmp, const void *data, size_t len)
{
	const uint8_t *pos = data;
	size_t left = len;
	ssize_t n;

	if (tmp->error)
		return tmp->error;
	if (len > tmp->expected_len - tmp->written) {
		tmp->error = -EFBIG;
		return tmp->error;
	}
	while (left) {
		n = write(tmp->fd, pos, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			tmp->error = n < 0 ? -errno : -EIO;
			return tmp->error;
		}
		pos += n;
		left -= (size_t)n;
		tmp->written += (uint64_t)n;
	}
	pc_sha256_update(tmp->sha, data, len);
	return 0;
}

uint64_t pc_store_tmp_written(const struct pc_store_tmp *tmp)
{
	return tmp->written;
}

static int verify(struct pc_store_tmp *tmp)
{
	struct pc_hash actual;

	if (tmp->error)
		return tmp->error;
	if (tmp->written != tmp->expected_len)
		return -EBADMSG;
	pc_sha256_final(tmp->sha, &actual);
	if (!pc_hash_equal(&actual, &tmp->hash))
		return -EBADMSG;
	return 0;
}

/* Queues the index entry of a chunk now in chunks/.  If memory runs out
 * the entry is lost until the next start, whose reconcile adds it. */
static void queue_new_chunk(struct pc_store *store, const struct pc_hash *hash,
			    uint64_t size)
{
	struct store_new_chunk *grown;
	size_t cap;

	pthread_mutex_lock(&store->queue_lock);
	if (store->new_chunks_count == store->new_chunks_cap) {
		cap = store->new_chunks_cap ? 2 * store->new_chunks_cap : 64;
		grown = realloc(store->new_chunks, cap * sizeof(*grown));
		if (!grown) {
			pthread_mutex_unlock(&store->queue_lock);
			store_log(LOG_WARNING, "out of memory: a new chunk "
					       "is indexed at the next start");
			return;
		}
		store->new_chunks = grown;
		store->new_chunks_cap = cap;
	}
	store->new_chunks[store->new_chunks_count].hash = *hash;
	store->new_chunks[store->new_chunks_count].size = size;
	store->new_chunks_count++;
	pthread_mutex_unlock(&store->queue_lock);
}

/* Renames the verified file into chunks/ab/<hex>.  Returns 1 if the
 * chunk was already there (a concurrent download won the race). */
static int move_into_place(struct pc_store_tmp *tmp)
{
	struct pc_store *store = tmp->store;
	char path[STORE_CHUNK_PATH_LEN];

	store_chunk_path(&tmp->hash, path);
	path[2] = '\0';
	if (mkdirat(store->chunks_fd, path, 0755) < 0 && errno != EEXIST)
		return -errno;
	path[2] = '/';
	if (renameat2(store->tmp_fd, tmp->name, store->chunks_fd, path,
		      RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_NOREPLACE on this file system: replacing a verified
	 * chunk with identical verified bytes is harmless. */
	return renameat(store->tmp_fd, tmp->name, store->chunks_fd, path) < 0
		       ? -errno
		       : 0;
}

int pc_store_tmp_commit(struct pc_store_tmp *tmp)
{
	struct pc_store *store = tmp->store;
	int rc = verify(tmp);

	/* The index entry may be durable before the file's data would be:
	 * sync first, so that no index entry ever names unwritten bytes. */
	if (rc == 0 && fdatasync(tmp->fd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = move_into_place(tmp);
	if (rc == 0)
		queue_new_chunk(store, &tmp->hash, tmp->written);
	if (rc != 0)
		unlinkat(store->tmp_fd, tmp->name, 0); /* rc 1: duplicate */
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

static int get_chunk_rec(struct pc_store *store, MDB_txn *txn,
			 const struct pc_hash *hash,
			 struct store_chunk_rec *rec)
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
	int rc = get_chunk_rec(store, txn, hash, &rec);

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
	int rc = get_chunk_rec(store, txn, hash, &rec);

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

int store_index_touch(struct pc_store *store, MDB_txn *txn,
		      const struct pc_hash *hash, int64_t atime)
{
	struct store_chunk_rec rec;
	int rc = get_chunk_rec(store, txn, hash, &rec);

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

/* ---- start-up reconcile --------------------------------------------------- */

struct reconcile_stats {
	unsigned long tmp_removed;
	unsigned long indexed;
	unsigned long files_removed;
	unsigned long entries_dropped;
};

/* A DIR stream for @name under @dirfd (the caller closedir()s). */
static DIR *open_subdir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;

	if (fd < 0)
		return NULL;
	dir = fdopendir(fd);
	if (!dir)
		close(fd);
	return dir;
}

static bool is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int empty_tmp(struct pc_store *store, struct reconcile_stats *stats)
{
	DIR *dir = open_subdir(store->tmp_fd, ".");
	struct dirent *entry;

	if (!dir)
		return -errno;
	while ((entry = readdir(dir))) {
		if (is_dot(entry->d_name))
			continue;
		if (unlinkat(store->tmp_fd, entry->d_name, 0) == 0)
			stats->tmp_removed++;
		else
			store_log(LOG_WARNING, "cannot remove tmp/%s: %s",
				  entry->d_name, strerror(errno));
	}
	closedir(dir);
	return 0;
}

/* SHA-256 of the regular file @name under @dirfd. */
static int hash_file(int dirfd, const char *name, struct pc_hash *out)
{
	struct pc_sha256_ctx *sha = pc_sha256_new();
	uint8_t *buf = malloc(HASH_READ_BUF);
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = 0;
	int rc = 0;

	if (!sha || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while ((n = read(fd, buf, HASH_READ_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		pc_sha256_update(sha, buf, (size_t)n);
	}
	pc_sha256_final(sha, out);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	pc_sha256_free(sha);
	return rc;
}

static void remove_file(int dirfd, const char *dirname, const char *name,
			const char *why, struct reconcile_stats *stats)
{
	if (unlinkat(dirfd, name, 0) == 0) {
		stats->files_removed++;
		store_log(LOG_WARNING, "removed chunks/%s/%s: %s", dirname,
			  name, why);
	} else {
		store_log(LOG_WARNING, "cannot remove chunks/%s/%s (%s): %s",
			  dirname, name, why, strerror(errno));
	}
}

/* One file in chunks/<dirname>/: keep, index or remove it. */
static int reconcile_file(struct pc_store *store, MDB_txn *txn, int dirfd,
			  const char *dirname, const char *name,
			  struct reconcile_stats *stats)
{
	struct store_usage_delta ignored = { 0, 0 };
	struct store_chunk_rec rec;
	struct pc_hash hash, actual;
	struct stat st;
	int rc;

	if (pc_hash_from_hex(name, strlen(name), &hash) < 0 ||
	    strncmp(name, dirname, 2) != 0) {
		remove_file(dirfd, dirname, name, "not a chunk name", stats);
		return 0;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode)) {
		remove_file(dirfd, dirname, name, "not a regular file", stats);
		return 0;
	}
	rc = get_chunk_rec(store, txn, &hash, &rec);
	if (rc == 0 && rec.size == (uint64_t)st.st_size)
		return 0;
	if (rc == 0 || rc == -EIO) {
		/* Indexed with another size: judge the file afresh. */
		rc = store_index_del(store, txn, &hash, &ignored);
		stats->entries_dropped++;
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc < 0)
		return rc;
	rc = (uint64_t)st.st_size > PC_MANIFEST_MAX
		     ? -EFBIG
		     : hash_file(dirfd, name, &actual);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || !pc_hash_equal(&hash, &actual)) {
		remove_file(dirfd, dirname, name,
			    "content does not match its name", stats);
		return 0;
	}
	stats->indexed++;
	return store_index_add(store, txn, &hash, (uint64_t)st.st_size,
			       time(NULL), &ignored);
}

static bool is_prefix_dir(const char *name)
{
	return strlen(name) == 2 && strspn(name, "0123456789abcdef") == 2;
}

/* Every file under chunks/: keep, index or remove. */
static int reconcile_files(struct pc_store *store, MDB_txn *txn,
			   struct reconcile_stats *stats)
{
	DIR *top = open_subdir(store->chunks_fd, ".");
	struct dirent *sub, *entry;
	DIR *dir;
	int rc = 0;

	if (!top)
		return -errno;
	while (rc == 0 && (sub = readdir(top))) {
		if (is_dot(sub->d_name))
			continue;
		dir = is_prefix_dir(sub->d_name)
			      ? open_subdir(store->chunks_fd, sub->d_name)
			      : NULL;
		if (!dir) {
			store_log(LOG_WARNING, "ignoring chunks/%s: %s",
				  sub->d_name,
				  is_prefix_dir(sub->d_name) ? strerror(errno)
							     : "not a chunk "
							       "directory");
			continue;
		}
		while (rc == 0 && (entry = readdir(dir))) {
			if (!is_dot(entry->d_name))
				rc = reconcile_file(store, txn, dirfd(dir),
						    sub->d_name, entry->d_name,
						    stats);
		}
		closedir(dir);
	}
	closedir(top);
	return rc;
}

/* Hashes of index entries without a valid file, collected so that the
 * cursor walk does not delete under itself. */
struct hash_list {
	struct pc_hash *items;
	size_t count, cap;
};

static int hash_list_add(struct hash_list *list, const void *bytes)
{
	struct pc_hash *grown;
	size_t cap;

	if (list->count == list->cap) {
		cap = list->cap ? 2 * list->cap : 64;
		grown = realloc(list->items, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		list->items = grown;
		list->cap = cap;
	}
	memcpy(list->items[list->count++].bytes, bytes, PC_HASH_LEN);
	return 0;
}

/* True if the entry's file exists with the indexed size. */
static bool entry_valid(struct pc_store *store, const MDB_val *key,
			const MDB_val *val, uint64_t *size)
{
	char path[STORE_CHUNK_PATH_LEN];
	struct store_chunk_rec rec;
	struct pc_hash hash;
	struct stat st;

	if (key->mv_size != PC_HASH_LEN ||
	    store_chunk_rec_decode(val, &rec) < 0)
		return false;
	memcpy(hash.bytes, key->mv_data, PC_HASH_LEN);
	store_chunk_path(&hash, path);
	if (fstatat(store->chunks_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != rec.size)
		return false;
	*size = rec.size;
	return true;
}

/* Drops entries without a valid file and recomputes the usage totals. */
static int reconcile_entries(struct pc_store *store, MDB_txn *txn,
			     struct reconcile_stats *stats)
{
	struct store_usage_delta ignored = { 0, 0 };
	struct hash_list invalid = { NULL, 0, 0 };
	uint64_t chunks = 0, bytes = 0, size;
	MDB_cursor *cursor;
	MDB_val key, val;
	int rc, mrc;

	rc = store_mdb_error("reading the chunk index",
			     mdb_cursor_open(txn, store->dbi.chunks, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (entry_valid(store, &key, &val, &size)) {
			chunks++;
			bytes += size;
		} else if (key.mv_size == PC_HASH_LEN) {
			rc = hash_list_add(&invalid, key.mv_data);
			if (rc < 0)
				break;
		}
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("reading the chunk index", mrc);
	for (size_t i = 0; rc == 0 && i < invalid.count; i++) {
		char hex[PC_HASH_HEX_LEN + 1];

		pc_hash_to_hex(&invalid.items[i], hex);
		store_log(LOG_WARNING,
			  "dropped index entry of chunk %s: its file is "
			  "missing or has the wrong size",
			  hex);
		rc = store_index_del(store, txn, &invalid.items[i], &ignored);
		stats->entries_dropped++;
	}
	free(invalid.items);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_USAGE_CHUNKS, chunks);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_USAGE_BYTES, bytes);
	return rc;
}

int store_reconcile(struct pc_store *store)
{
	struct reconcile_stats stats = { 0, 0, 0, 0 };
	MDB_txn *txn;
	int rc;

	rc = empty_tmp(store, &stats);
	if (rc < 0)
		return rc;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = reconcile_files(store, txn, &stats);
	if (rc == 0)
		rc = reconcile_entries(store, txn, &stats);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = store_txn_commit(txn, "reconciling the chunk index");
	if (rc == 0 && (stats.tmp_removed || stats.indexed ||
			stats.files_removed || stats.entries_dropped))
		store_log(LOG_INFO,
			  "cache recovery: removed %lu unfinished downloads, "
			  "indexed %lu chunk files, removed %lu invalid files, "
			  "dropped %lu index entries",
			  stats.tmp_removed, stats.indexed, stats.files_removed,
			  stats.entries_dropped);
	return rc;
}
