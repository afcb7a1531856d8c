/*
 * reconcile.c - start-up recovery: chunk files and their index entries
 * made to agree again after a crash (or a careless administrator).
 *
 * A chunk's rename into chunks/ and its index entry are two steps (the
 * entry waits for the sync point that makes the file's data durable,
 * commit.c), and removals unlink the file before they delete the entry,
 * so a crash can leave a file without an entry or an entry without a
 * file.  Both directions are repaired here, in one write transaction
 * before anyone reads (pc_store_open runs this before it returns, so
 * before the daemon mounts or serves peers): unindexed files are re-hashed
 * and, if right, synced and indexed, or removed; entries without a file of
 * the right size are dropped; tmp/ is emptied, and the usage totals are
 * recomputed from what is left.
 *
 * An index entry is only ever written for a file whose data was synced,
 * so an indexed file of the right size is trusted without reading it:
 * a start costs one stat per chunk file, plus a hash of the files of the
 * last unsynced batch, never a re-hash of the whole cache.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Small enough to stay in the cache while SHA-256 reads it. */
#define HASH_READ_BUF (128 * 1024)

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
			store_log(store, PC_LOG_WARN,
				  "cannot remove tmp/%s: %s", entry->d_name,
				  strerror(errno));
	}
	closedir(dir);
	return 0;
}

int store_hash_fd(int fd, struct pc_hash *out, uint64_t *size)
{
	struct pc_sha256_ctx *sha = pc_sha256_new();
	uint8_t *buf = malloc(HASH_READ_BUF);
	uint64_t total = 0;
	ssize_t n = 0;
	int rc = 0;

	if (!sha || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = pread(fd, buf, HASH_READ_BUF, (off_t)total)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		pc_sha256_update(sha, buf, (size_t)n);
		total += (uint64_t)n;
	}
	pc_sha256_final(sha, out);
	if (size)
		*size = total;
out:
	free(buf);
	pc_sha256_free(sha);
	return rc;
}

int store_hash_file(int dirfd, const char *name, struct pc_hash *out,
		    uint64_t *size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	if (fd < 0)
		return -errno;
	rc = store_hash_fd(fd, out, size);
	close(fd);
	return rc;
}

/*
 * The hash of a chunk file about to be indexed, and its data synced: a
 * file found without an index entry may be one the last run renamed in
 * and never synced (group commit, commit.c).  After a kill -9 its bytes
 * are still in the page cache and hash right, but a power cut now would
 * lose them under an index entry that says they are there.
 */
static int hash_and_sync(int dirfd, const char *name, struct pc_hash *out)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	if (fd < 0)
		return -errno;
	rc = store_hash_fd(fd, out, NULL);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void remove_file(struct pc_store *store, int dirfd, const char *dirname,
			const char *name, const char *why,
			struct reconcile_stats *stats)
{
	if (unlinkat(dirfd, name, 0) == 0) {
		stats->files_removed++;
		store_log(store, PC_LOG_WARN, "removed chunks/%s/%s: %s",
			  dirname, name, why);
	} else {
		store_log(store, PC_LOG_WARN,
			  "cannot remove chunks/%s/%s (%s): %s", dirname, name,
			  why, strerror(errno));
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
		remove_file(store, dirfd, dirname, name, "not a chunk name",
			    stats);
		return 0;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode)) {
		remove_file(store, dirfd, dirname, name, "not a regular file",
			    stats);
		return 0;
	}
	rc = store_index_get(store, txn, &hash, &rec);
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
		     : hash_and_sync(dirfd, name, &actual);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || !pc_hash_equal(&hash, &actual)) {
		remove_file(store, dirfd, dirname, name,
			    "content does not match its name", stats);
		return 0;
	}
	stats->indexed++;
	return store_index_add(store, txn, &hash, (uint64_t)st.st_size,
			       store_now(store), &ignored);
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
			if (is_prefix_dir(sub->d_name))
				store->files_unread = true;
			store_log(store, PC_LOG_WARN, "ignoring chunks/%s: %s",
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
		store_log(store, PC_LOG_WARN,
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
		store_log(store, PC_LOG_INFO,
			  "cache recovery: removed %lu unfinished downloads, "
			  "indexed %lu chunk files, removed %lu invalid files, "
			  "dropped %lu index entries",
			  stats.tmp_removed, stats.indexed, stats.files_removed,
			  stats.entries_dropped);
	return rc;
}

int store_reconcile_clean(struct pc_store *store)
{
	struct reconcile_stats stats = { 0, 0, 0, 0 };
	int rc = empty_tmp(store, &stats);

	if (rc == 0)
		store_log(store, PC_LOG_INFO,
			  "the cache was closed cleanly: no recovery needed "
			  "(%lu leftover downloads removed)",
			  stats.tmp_removed);
	return rc;
}
