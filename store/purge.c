/*
 * purge.c - keeping the cache under its quota and its age limit.
 *
 * Victims come from the "lru" table, whose keys are be64(last access)
 * followed by the hash: a cursor from its first key walks the chunks from
 * least to most recently used, so finding them costs no scan of the cache
 * however large it is.  Every purge flushes first, so that new chunks and
 * recent access times are in that order before it is read.
 *
 * A purge works in batches.  A read transaction picks up to PURGE_BATCH
 * candidates (skipping pinned chunks and retained manifests, stopping at
 * the size goal or the age cutoff); then one write transaction unlinks
 * their files (on a few threads) and deletes their entries.  Readers never
 * wait: they open chunk files without LMDB, and LMDB readers do not wait
 * for a writer.  Writers (flush, install, discard) wait at most for one
 * batch.  Each file is unlinked with pin_lock held right after its pin was
 * checked (pins.c), and removed before its entry (chunks.c), so a crash or
 * a failed commit leaves at worst entries without files, which the next
 * purge or start drops.  One purge runs at a time (purge_lock): the quota
 * check after a commit, the ENOSPC retry, the daemon's timer and
 * peercachectl all come through here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PURGE_BATCH 1024
#define PURGE_THREADS 4

struct purge_goal {
	bool by_size;
	uint64_t target; /* by_size: stop once live usage <= target */
	int64_t cutoff;	 /* only chunks last accessed before this */
};

enum victim_outcome {
	VICTIM_KEPT,	/* not looked at yet, or unlink failed (error) */
	VICTIM_PINNED,	/* pinned between collect and remove */
	VICTIM_REMOVED, /* its file was unlinked by this purge */
	VICTIM_GONE,	/* its file was already gone: drop the entry */
};

struct victim {
	struct pc_hash hash;
	uint64_t size;
	enum victim_outcome outcome; /* written by one unlink thread */
	int error;
};

struct purge_run {
	struct pc_store *store;
	struct purge_goal goal;
	struct pc_hash retained[STORE_RETAINED_MAX]; /* every repository's */
	int nretained;
	uint8_t resume[STORE_LRU_KEY_LEN]; /* last key looked at */
	bool resuming;
	bool done;
	struct victim batch[PURGE_BATCH];
	size_t count;
	struct pc_purge_result *result;
};

static bool is_retained(const struct purge_run *run, const struct pc_hash *hash)
{
	for (int i = 0; i < run->nretained; i++)
		if (pc_hash_equal(&run->retained[i], hash))
			return true;
	return false;
}

static bool goal_reached(const struct purge_run *run, uint64_t planned)
{
	uint64_t usage = atomic_load(&run->store->usage_bytes);

	return run->goal.by_size &&
	       (usage <= planned || usage - planned <= run->goal.target);
}

/* Looks at the lru entry @key; adds it to the batch if it may go. */
static int consider(struct purge_run *run, MDB_txn *txn, const MDB_val *key,
		    uint64_t *planned)
{
	struct store_chunk_rec rec;
	struct pc_hash hash;
	int rc;

	memcpy(hash.bytes, (const uint8_t *)key->mv_data + 8, PC_HASH_LEN);
	if (is_retained(run, &hash)) {
		run->result->kept_retained++;
		return 0;
	}
	if (pc_store_pinned(run->store, &hash)) {
		run->result->kept_pinned++;
		return 0;
	}
	rc = store_index_get(run->store, txn, &hash, &rec);
	if (rc == -ENOENT || rc == -EIO)
		return 0; /* an lru key without a record: nothing to free */
	if (rc < 0)
		return rc;
	memset(&run->batch[run->count], 0, sizeof(run->batch[0]));
	run->batch[run->count].hash = hash;
	run->batch[run->count].size = rec.size;
	run->count++;
	*planned += rec.size;
	return 0;
}

/* Fills the batch from the LRU order, after the last key looked at. */
static int collect(struct purge_run *run)
{
	struct pc_store *store = run->store;
	MDB_val key = { sizeof(run->resume), run->resume }, val;
	MDB_cursor_op op = run->resuming ? MDB_SET_RANGE : MDB_FIRST;
	uint64_t planned = 0;
	MDB_cursor *cursor;
	MDB_txn *txn;
	int rc, mrc;

	run->count = 0;
	rc = store_read_cursor(store, store->dbi.lru, &txn, &cursor);
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, op); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (key.mv_size != STORE_LRU_KEY_LEN)
			continue;
		if (run->resuming &&
		    memcmp(key.mv_data, run->resume, STORE_LRU_KEY_LEN) == 0)
			continue;
		if ((int64_t)store_be64_get(key.mv_data) >= run->goal.cutoff ||
		    goal_reached(run, planned)) {
			run->done = true;
			break;
		}
		if (run->count == PURGE_BATCH)
			break;
		memcpy(run->resume, key.mv_data, STORE_LRU_KEY_LEN);
		run->resuming = true;
		rc = consider(run, txn, &key, &planned);
	}
	if (rc == 0 && mrc == MDB_NOTFOUND)
		run->done = true;
	else if (rc == 0 && mrc != 0)
		rc = store_mdb_error("reading the LRU order", mrc);
	store_read_cursor_end(txn, cursor);
	return rc;
}

/* Unlinks @v's file unless it was pinned meanwhile (any thread). */
static void unlink_victim(struct pc_store *store, struct victim *v)
{
	int rc;

	pthread_rwlock_rdlock(&store->pin_lock);
	if (store_pinned_locked(store, &v->hash)) {
		pthread_rwlock_unlock(&store->pin_lock);
		v->outcome = VICTIM_PINNED;
		return;
	}
	rc = store_unlink_chunk(store, &v->hash, v->size);
	pthread_rwlock_unlock(&store->pin_lock);
	if (rc == 0)
		v->outcome = VICTIM_REMOVED;
	else if (rc == -ENOENT)
		v->outcome = VICTIM_GONE;
	else
		v->error = rc;
}

struct unlink_slice {
	struct purge_run *run;
	size_t first; /* this thread takes first, first + threads, ... */
	size_t step;
	pthread_t thread;
};

static void *unlink_slice(void *arg)
{
	struct unlink_slice *slice = arg;
	struct purge_run *run = slice->run;

	for (size_t i = slice->first; i < run->count; i += slice->step)
		unlink_victim(run->store, &run->batch[i]);
	return NULL;
}

/*
 * Unlinks the batch's files.  A file system journals each unlink, and
 * ext4 overlaps them well: PURGE_THREADS threads unlink about twice as
 * fast as one, so a batch is spread over short-lived threads (one
 * pthread_create per thousand files is noise).  If a thread cannot be
 * made, this one does its share.
 */
static void unlink_batch(struct purge_run *run)
{
	struct unlink_slice slices[PURGE_THREADS];
	size_t threads = (run->count + 63) / 64;
	bool started[PURGE_THREADS] = { false };

	if (threads > PURGE_THREADS)
		threads = PURGE_THREADS;
	for (size_t t = 0; t < threads; t++) {
		slices[t].run = run;
		slices[t].first = t;
		slices[t].step = threads;
		if (t > 0)
			started[t] =
				pthread_create(&slices[t].thread, NULL,
					       unlink_slice, &slices[t]) == 0;
	}
	for (size_t t = 0; t < threads; t++)
		if (!started[t])
			unlink_slice(&slices[t]);
	for (size_t t = 1; t < threads; t++)
		if (started[t])
			pthread_join(slices[t].thread, NULL);
}

/* Logs and counts what the batch did. */
static void report_batch(struct purge_run *run)
{
	struct pc_store *store = run->store;
	char hex[PC_HASH_HEX_LEN + 1];
	uint64_t chunks = 0, bytes = 0;

	for (size_t i = 0; i < run->count; i++) {
		const struct victim *v = &run->batch[i];

		pc_hash_to_hex(&v->hash, hex);
		if (v->outcome == VICTIM_PINNED)
			run->result->kept_pinned++;
		if (v->error)
			store_log(store, PC_LOG_WARN,
				  "cannot purge chunk %s: %s", hex,
				  strerror(-v->error));
		if (v->outcome != VICTIM_REMOVED)
			continue;
		store_log(store, PC_LOG_INFO,
			  "purged content (hash = %s, size = %llu)", hex,
			  (unsigned long long)v->size);
		chunks++;
		bytes += v->size;
	}
	pc_store_count(store, PC_CTR_PURGED_CHUNKS, chunks);
	pc_store_count(store, PC_CTR_PURGED_BYTES, bytes);
	run->result->chunks += chunks;
	run->result->bytes += bytes;
}

/* Removes the batch: files, then their entries, in one transaction. */
static int remove_batch(struct purge_run *run)
{
	struct pc_store *store = run->store;
	struct store_usage_delta usage = { 0, 0 };
	MDB_txn *txn;
	int rc;

	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	unlink_batch(run);
	for (size_t i = 0; i < run->count && rc >= 0; i++) {
		const struct victim *v = &run->batch[i];

		if (v->outcome == VICTIM_REMOVED || v->outcome == VICTIM_GONE)
			rc = store_index_drop(store, txn, &v->hash, &usage);
	}
	if (rc >= 0)
		rc = store_usage_apply(store, txn, &usage);
	if (rc >= 0)
		rc = store_txn_commit(txn, "purging chunks");
	else
		mdb_txn_abort(txn);
	if (rc >= 0)
		store_warm_entry(store->base);
	/* The files are gone even if the entries are not: the next purge
	 * (unlink: ENOENT) or start drops those. */
	report_batch(run);
	return rc < 0 ? rc : 0;
}

/* With purge_lock held. */
static int purge_locked(struct pc_store *store, const struct purge_goal *goal,
			struct pc_purge_result *result)
{
	struct purge_run *run = calloc(1, sizeof(*run));
	uint64_t bytes_before = result->bytes;
	int rc;

	if (!run)
		return -ENOMEM;
	run->store = store;
	run->goal = *goal;
	run->result = result;
	/* Chunks renamed in since the last sync point are not indexed yet:
	 * sync and index them, so that the LRU order sees them. */
	rc = store_sync_point(store);
	if (rc < 0) /* purge what is indexed; the rest waits */
		store_log(store, PC_LOG_WARN,
			  "purge: flushing the index first failed: %s",
			  strerror(-rc));
	rc = store_retained_manifests(store, run->retained);
	if (rc >= 0) {
		run->nretained = rc;
		rc = 0;
	}
	while (rc == 0 && !run->done) {
		rc = collect(run);
		if (rc == 0 && run->count)
			rc = remove_batch(run);
	}
	if (result->bytes > bytes_before)
		store_log(store, PC_LOG_INFO, "total purged size %llu",
			  (unsigned long long)(result->bytes - bytes_before));
	result->usage_bytes = atomic_load(&store->usage_bytes);
	free(run);
	return rc;
}

static int purge(struct pc_store *store, const struct purge_goal *goal,
		 struct pc_purge_result *out)
{
	struct pc_purge_result ignored;
	int rc;

	if (!out)
		out = &ignored;
	memset(out, 0, sizeof(*out));
	if (store->readonly)
		return -EROFS;
	pthread_mutex_lock(&store->purge_lock);
	rc = purge_locked(store, goal, out);
	pthread_mutex_unlock(&store->purge_lock);
	return rc;
}

static uint64_t low_watermark(uint64_t quota)
{
	/* quota * PCT / 100 without overflowing a huge quota */
	return quota / 100 * PC_STORE_LOW_WATERMARK_PCT +
	       quota % 100 * PC_STORE_LOW_WATERMARK_PCT / 100;
}

static struct purge_goal size_goal(uint64_t target)
{
	struct purge_goal goal = { true, target, INT64_MAX };

	return goal;
}

void pc_store_set_limits(struct pc_store *store, uint64_t quota,
			 uint64_t max_age)
{
	store = store->base; /* chunk-level: any repository's handle */
	atomic_store(&store->quota, quota);
	atomic_store(&store->max_age, max_age);
}

int pc_store_purge(struct pc_store *store, uint64_t target_bytes,
		   struct pc_purge_result *out)
{
	struct purge_goal goal = size_goal(target_bytes);

	store = store->base; /* chunk-level: any repository's handle */

	return purge(store, &goal, out);
}

int pc_store_purge_aged(struct pc_store *store, uint64_t max_age_s,
			struct pc_purge_result *out)
{
	struct purge_goal goal = { false, 0, INT64_MIN };

	store = store->base; /* chunk-level: any repository's handle */

	/* A chunk last accessed at or before now - max_age goes: it was not
	 * accessed within the last max_age seconds.  (An age beyond any
	 * clock keeps everything.) */
	if (max_age_s < (uint64_t)INT64_MAX / 2)
		goal.cutoff = store_now(store) - (int64_t)max_age_s + 1;
	return purge(store, &goal, out);
}

int pc_store_enforce_limits(struct pc_store *store, struct pc_purge_result *out)
{
	uint64_t quota = atomic_load(&store->base->quota);
	uint64_t max_age = atomic_load(&store->base->max_age);
	struct pc_purge_result total = { 0 }, step;
	int rc = 0;

	store = store->base; /* chunk-level: any repository's handle */
	if (store->readonly)
		return -EROFS;
	if (max_age) {
		rc = pc_store_purge_aged(store, max_age, &step);
		total.chunks += step.chunks;
		total.bytes += step.bytes;
		total.kept_pinned += step.kept_pinned;
		total.kept_retained += step.kept_retained;
	}
	if (rc == 0 && quota && atomic_load(&store->usage_bytes) > quota) {
		rc = pc_store_purge(store, low_watermark(quota), &step);
		total.chunks += step.chunks;
		total.bytes += step.bytes;
		total.kept_pinned += step.kept_pinned;
		total.kept_retained += step.kept_retained;
	}
	total.usage_bytes = atomic_load(&store->usage_bytes);
	if (out)
		*out = total;
	return rc;
}

void store_quota_check(struct pc_store *store, const struct pc_hash *keep)
{
	uint64_t quota = atomic_load(&store->quota);
	struct pc_purge_result result = { 0 };
	struct purge_goal goal = size_goal(low_watermark(quota));
	int rc;

	if (!quota || atomic_load(&store->usage_bytes) <= quota)
		return;
	/* The chunk that was just added is what a reader waits for: it is
	 * the most recently used anyway, but with a tiny quota it could be
	 * the only candidate left. */
	if (keep && pc_store_pin(store, keep) < 0)
		return;
	pthread_mutex_lock(&store->purge_lock);
	/* Another commit's purge may have done the work meanwhile. */
	rc = atomic_load(&store->usage_bytes) > quota
		     ? purge_locked(store, &goal, &result)
		     : 0;
	pthread_mutex_unlock(&store->purge_lock);
	if (keep)
		pc_store_unpin(store, keep);
	if (rc < 0)
		store_log(store, PC_LOG_ERROR, "purge over quota failed: %s",
			  strerror(-rc));
}

int store_make_room(struct pc_store *store, uint64_t needed)
{
	struct pc_purge_result result = { 0 };
	struct purge_goal goal;
	uint64_t usage, held;
	int rc;

	needed += PC_STORE_ENOSPC_SLACK;
	pthread_mutex_lock(&store->purge_lock);
	usage = atomic_load(&store->usage_bytes);
	goal = size_goal(usage > needed ? usage - needed : 0);
	if (store_warn_due(&store->enospc_warning, &held))
		store_log(store, PC_LOG_WARN,
			  "the cache's disk is full: purging %llu bytes "
			  "(%llu more times since the last warning)",
			  (unsigned long long)(usage - goal.target),
			  (unsigned long long)held);
	rc = purge_locked(store, &goal, &result);
	pthread_mutex_unlock(&store->purge_lock);
	if (rc < 0)
		store_log(store, PC_LOG_ERROR, "purge for space failed: %s",
			  strerror(-rc));
	return result.chunks ? 0 : -ENOSPC;
}
