/*
 * commit.c - group commit: chunk files renamed into chunks/ without a sync
 * of their own become durable in batches.
 *
 * The rule that makes a power cut safe: an index entry never names a chunk
 * whose data was not synced first.  Readers open chunk files by name, not
 * through the index, so a chunk renamed in but not yet synced is served at
 * once (its bytes were verified and sit in the page cache); what a crash
 * can take is only its durability.  Start-up (reconcile.c, before anything
 * is served) re-hashes every chunk file that has no index entry: after a
 * power cut a file whose data never reached the disk is found and removed;
 * after a kill -9 (the page cache survives) the files of the last batch are
 * re-hashed, synced and indexed, a batch's worth of work, never the whole
 * cache.
 *
 * A sync point takes the batch (the files renamed in since the last one),
 * starts write-back on all of them (sync_file_range) so that the device
 * sees one queue instead of one file at a time, waits for each
 * (fdatasync), and only then queues their index entries, which
 * pc_store_flush() commits in one LMDB transaction.  Sync points run on
 * the store's syncer thread when the batch reaches its size or file bound
 * or STORE_SYNC_INTERVAL_MS of age, or takes the cache over its quota;
 * inline before a purge (its LRU order must see every chunk) and at close.
 * After each, the syncer purges if the usage is over the quota, so that
 * the threads that write chunks never wait for a purge.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* A sync point is due when the batch holds this many bytes (or a quarter
 * of the quota, if that is less: a small cache purges often, and a purge
 * must see the new chunks), this many files (each holds an open fd), or
 * is this old. */
#define STORE_SYNC_BYTES (32u * 1024 * 1024)
#define STORE_SYNC_FILES 128
#define STORE_SYNC_INTERVAL_MS 50
/* A purge that pinned chunks kept short of the quota is tried again. */
#define STORE_QUOTA_RETRY_MS 1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int store_commit_init(struct pc_store *store)
{
	struct store_commit *c = &store->commit;
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->sync_lock, NULL);
	return 0;
}

static uint64_t interval_ms(const struct store_commit *c)
{
	return c->interval_ms ? c->interval_ms : STORE_SYNC_INTERVAL_MS;
}

/* With c->lock held: the batch should be synced now (and the cache
 * purged, if it went over its quota: the purge must see the batch). */
static bool due_locked(struct pc_store *store)
{
	const struct store_commit *c = &store->commit;
	uint64_t quota = atomic_load(&store->quota), bound = STORE_SYNC_BYTES;

	if (quota && quota / 4 < bound)
		bound = quota / 4;
	return c->count &&
	       (c->bytes >= bound || c->count >= STORE_SYNC_FILES ||
		now_ms() - c->first_ms >= interval_ms(c) ||
		(quota && atomic_load(&store->usage_bytes) > quota));
}

/* Syncs @items and closes their fds; those that reached the disk get
 * their index entries queued, the others are removed (after a failed
 * write-back their bytes cannot be trusted to be on disk). */
static void sync_items(struct pc_store *store, struct store_unsynced *items,
		       size_t count)
{
	char hex[PC_HASH_HEX_LEN + 1];

	for (size_t i = 0; i < count; i++)
		sync_file_range(items[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < count; i++) {
		int rc = fdatasync(items[i].fd) < 0 ? -errno : 0;

		pc_store_fd_close(items[i].fd);
		if (rc == 0) {
			store_queue_new_chunk(store, &items[i].hash,
					      items[i].size, items[i].atime);
			continue;
		}
		pc_hash_to_hex(&items[i].hash, hex);
		store_log(store, PC_LOG_WARN,
			  "chunk %s: cannot sync it to disk (%s): removed", hex,
			  strerror(-rc));
		store_unlink_chunk(store, &items[i].hash, items[i].size);
	}
}

int store_sync_point(struct pc_store *store)
{
	struct store_commit *c = &store->commit;
	struct store_unsynced *items;
	size_t count;
	int rc;

	pthread_mutex_lock(&c->sync_lock);
	pthread_mutex_lock(&c->lock);
	items = c->batch;
	count = c->count;
	c->batch = NULL;
	c->count = c->cap = 0;
	c->bytes = 0;
	pthread_mutex_unlock(&c->lock);
	sync_items(store, items, count);
	free(items);
	rc = pc_store_flush(store);
	pthread_mutex_unlock(&c->sync_lock);
	return rc;
}

int pc_store_sync(struct pc_store *store)
{
	store = store->base; /* chunk-level: any repository's handle */
	if (store->readonly)
		return -EROFS;
	return store_sync_point(store);
}

/* The syncer thread: a sync point whenever one is due, then the quota. */
static bool over_quota(struct pc_store *store)
{
	uint64_t quota = atomic_load(&store->quota);

	return quota && atomic_load(&store->usage_bytes) > quota;
}

/* With c->lock held: sleeps until monotonic ms @at or a signal. */
static void wait_until_locked(struct store_commit *c, uint64_t at)
{
	struct timespec until = { .tv_sec = (time_t)(at / 1000),
				  .tv_nsec = (long)(at % 1000) * 1000000L };

	pthread_cond_timedwait(&c->cond, &c->lock, &until);
}

/* The syncer thread: a sync point whenever one is due, then the quota.  A
 * purge that pins kept from reaching the quota (chunks that readers were
 * waiting for) is tried again every STORE_QUOTA_RETRY_MS while the cache
 * stays over it, so that it gets there once they are done. */
static void *syncer_main(void *arg)
{
	struct pc_store *store = arg;
	struct store_commit *c = &store->commit;
	bool sync;
	int rc;

	pthread_setname_np(pthread_self(), "pc-sync");
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		if (!c->count && !over_quota(store)) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (c->count && !due_locked(store)) {
			wait_until_locked(c, c->first_ms + interval_ms(c));
			continue;
		}
		sync = c->count > 0;
		pthread_mutex_unlock(&c->lock);
		rc = sync ? store_sync_point(store) : 0;
		if (rc < 0)
			store_log(store, PC_LOG_WARN,
				  "indexing new chunks failed: %s (retried "
				  "at the next flush)",
				  strerror(-rc));
		store_quota_check(store, NULL);
		pthread_mutex_lock(&c->lock);
		if (!c->count && over_quota(store) && !c->stopping)
			wait_until_locked(c, now_ms() + STORE_QUOTA_RETRY_MS);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* With c->lock held: appends @item; false if memory ran out. */
static bool append_locked(struct store_commit *c,
			  const struct store_unsynced *item)
{
	struct store_unsynced *grown;
	size_t cap;

	if (c->count == c->cap) {
		cap = c->cap ? 2 * c->cap : 64;
		grown = realloc(c->batch, cap * sizeof(*grown));
		if (!grown)
			return false;
		c->batch = grown;
		c->cap = cap;
	}
	if (c->count == 0)
		c->first_ms = now_ms();
	c->batch[c->count++] = *item;
	c->bytes += item->size;
	return true;
}

void store_commit_add(struct pc_store *store, const struct pc_hash *hash,
		      uint64_t size, int fd)
{
	struct store_unsynced item = { *hash, size, store_now(store), fd };
	struct store_commit *c = &store->commit;
	bool added, inline_sync = false;

	pthread_mutex_lock(&c->lock);
	added = append_locked(c, &item);
	if (added && !c->started && !c->stopping)
		c->started = pthread_create(&c->thread, NULL, syncer_main,
					    store) == 0;
	if (added && c->started && (c->count == 1 || due_locked(store)))
		pthread_cond_signal(&c->cond);
	/* No syncer (no thread, or closing): whoever adds syncs when due. */
	inline_sync = added && !c->started && due_locked(store);
	pthread_mutex_unlock(&c->lock);
	if (!added) /* out of memory: this one alone, now */
		sync_items(store, &item, 1);
	if (inline_sync)
		store_sync_point(store);
}

void store_commit_stop(struct pc_store *store)
{
	struct store_commit *c = &store->commit;
	bool started;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	started = c->started;
	c->started = false;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (started)
		pthread_join(c->thread, NULL);
	store_sync_point(store);
}

void store_commit_free(struct pc_store *store)
{
	struct store_commit *c = &store->commit;

	for (size_t i = 0; i < c->count; i++)
		pc_store_fd_close(c->batch[i].fd);
	free(c->batch);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->sync_lock);
	pthread_cond_destroy(&c->cond);
}
