/*
 * flush.c - work batched for the index: new chunks, access times and
 * counters, written by pc_store_flush() in one write transaction; and the
 * counters and usage totals read back.
 *
 * The read path must not pay for a write transaction per read, so it only
 * appends to an in-memory queue (under a mutex held for a few stores) or
 * bumps a relaxed atomic counter; the daemon flushes on a timer.  Counter
 * totals live in memory (persisted value at open plus everything counted
 * since), and a flush writes the totals rather than deltas: a failed flush
 * loses nothing, and a reader never sees a count go backwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const counter_names[PC_CTR_COUNT] = {
	[PC_CTR_HITS] = "hits",
	[PC_CTR_MISSES] = "misses",
	[PC_CTR_BYTES_FROM_CACHE] = "bytes_from_cache",
	[PC_CTR_BYTES_FROM_PEERS] = "bytes_from_peers",
	[PC_CTR_BYTES_FROM_MIRROR] = "bytes_from_mirror",
	[PC_CTR_BYTES_SERVED_PEERS] = "bytes_served_peers",
	[PC_CTR_CHUNKS_SERVED_PEERS] = "chunks_served_peers",
	[PC_CTR_BAD_FROM_MIRROR] = "bad_from_mirror",
	[PC_CTR_BAD_FROM_PEERS] = "bad_from_peers",
	[PC_CTR_PURGED_CHUNKS] = "purged_chunks",
	[PC_CTR_PURGED_BYTES] = "purged_bytes",
	[PC_CTR_PASSTHROUGH_OPENS] = "passthrough_opens",
};

/* "ctr.<name>" of counter @c in "meta". */
static void counter_key(int c, char *out, size_t len)
{
	snprintf(out, len, META_COUNTER_PREFIX "%s", counter_names[c]);
}

int store_counters_load(struct pc_store *store, MDB_txn *txn)
{
	char key[64];
	int rc = 0;

	for (int c = 0; rc == 0 && c < PC_CTR_COUNT; c++) {
		counter_key(c, key, sizeof(key));
		rc = store_meta_get(store, txn, key, 0, &store->ctr_base[c]);
		store->ctr_flushed[c] = store->ctr_base[c];
	}
	return rc;
}

/* ---- flush ---------------------------------------------------------------- */

/* Moves the queued work out from under queue_lock; the caller owns
 * *@chunks and the access hints now in accesses_flushing. */
static void take_queue(struct pc_store *store, struct store_new_chunk **chunks,
		       size_t *nchunks, size_t *naccesses)
{
	struct store_access *swap;

	pthread_mutex_lock(&store->queue_lock);
	*chunks = store->new_chunks;
	*nchunks = store->new_chunks_count;
	store->new_chunks = NULL;
	store->new_chunks_count = 0;
	store->new_chunks_cap = 0;
	swap = store->accesses;
	store->accesses = store->accesses_flushing;
	store->accesses_flushing = swap;
	*naccesses = store->accesses_count;
	store->accesses_count = 0;
	pthread_mutex_unlock(&store->queue_lock);
}

/* Puts chunks whose index entries were not written back in the queue. */
static void requeue(struct pc_store *store, struct store_new_chunk *chunks,
		    size_t nchunks)
{
	struct store_new_chunk *merged;
	size_t total;

	pthread_mutex_lock(&store->queue_lock);
	total = nchunks + store->new_chunks_count;
	merged = realloc(chunks, total * sizeof(*merged));
	if (!merged) {
		/* The files are in chunks/; reconcile indexes them at the
		 * next start. */
		atomic_store(&store->index_incomplete, true);
		store_log(store, PC_LOG_WARN,
			  "out of memory: %zu new chunks stay unindexed until "
			  "the next start",
			  nchunks);
		free(chunks);
	} else {
		if (store->new_chunks_count)
			memcpy(merged + nchunks, store->new_chunks,
			       store->new_chunks_count * sizeof(*merged));
		free(store->new_chunks);
		store->new_chunks = merged;
		store->new_chunks_count = total;
		store->new_chunks_cap = total;
	}
	pthread_mutex_unlock(&store->queue_lock);
}

/* Counter totals to persist; false if none changed since the last flush. */
static bool counter_totals(struct pc_store *store,
			   uint64_t totals[PC_CTR_COUNT])
{
	bool changed = false;

	for (int c = 0; c < PC_CTR_COUNT; c++) {
		totals[c] = store->ctr_base[c] +
			    atomic_load_explicit(&store->ctr_counted[c],
						 memory_order_relaxed);
		changed |= totals[c] != store->ctr_flushed[c];
	}
	return changed;
}

static int flush_in_txn(struct pc_store *store, MDB_txn *txn,
			const struct store_new_chunk *chunks, size_t nchunks,
			size_t naccesses, const uint64_t totals[PC_CTR_COUNT])
{
	struct store_usage_delta usage = { 0, 0 };
	uint64_t size;
	char key[64];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < nchunks; i++) {
		/* Discarded or purged since its commit: no entry for a file
		 * that is gone.  (Removals unlink before their transaction,
		 * so one that races with this one is seen either here or by
		 * its own transaction, which then deletes this entry.) */
		if (pc_store_chunk_size(store, &chunks[i].hash, &size) < 0)
			continue;
		rc = store_index_add(store, txn, &chunks[i].hash,
				     chunks[i].size, chunks[i].atime, &usage);
	}
	for (size_t i = 0; rc == 0 && i < naccesses; i++)
		rc = store_index_touch(store, txn,
				       &store->accesses_flushing[i].hash,
				       store->accesses_flushing[i].atime);
	if (rc == 0)
		rc = store_usage_apply(store, txn, &usage);
	for (int c = 0; rc == 0 && c < PC_CTR_COUNT; c++) {
		if (totals[c] == store->ctr_flushed[c])
			continue;
		counter_key(c, key, sizeof(key));
		rc = store_meta_put(store, txn, key, totals[c]);
	}
	return rc;
}

int pc_store_flush(struct pc_store *store)
{
	uint64_t totals[PC_CTR_COUNT];
	struct store_new_chunk *chunks;
	size_t nchunks, naccesses;
	bool counters_changed;
	MDB_txn *txn;
	int rc;

	store = store->base; /* chunk-level: any repository's handle */

	if (store->readonly)
		return -EROFS;
	pthread_mutex_lock(&store->flush_lock);
	take_queue(store, &chunks, &nchunks, &naccesses);
	counters_changed = counter_totals(store, totals);
	rc = 0;
	if (!nchunks && !naccesses && !counters_changed)
		goto out;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		goto out;
	rc = flush_in_txn(store, txn, chunks, nchunks, naccesses, totals);
	if (rc < 0)
		mdb_txn_abort(txn);
	else
		rc = store_txn_commit(txn, "flushing the cache index");
	if (rc == 0) {
		memcpy(store->ctr_flushed, totals, sizeof(totals));
		store_warm_entry(store);
	}
out:
	if (rc < 0 && nchunks) {
		requeue(store, chunks, nchunks);
		chunks = NULL;
	}
	pthread_mutex_unlock(&store->flush_lock);
	free(chunks);
	return rc;
}

/* ---- counters and usage ------------------------------------------------- */

const char *pc_counter_name(enum pc_counter ctr)
{
	if ((unsigned int)ctr >= PC_CTR_COUNT)
		return "unknown";
	return counter_names[ctr];
}

void pc_store_count(struct pc_store *store, enum pc_counter ctr, uint64_t delta)
{
	store = store->base; /* chunk-level: any repository's handle */
	if ((unsigned int)ctr >= PC_CTR_COUNT)
		return;
	atomic_fetch_add_explicit(&store->ctr_counted[ctr], delta,
				  memory_order_relaxed);
}

uint64_t pc_store_counter(struct pc_store *store, enum pc_counter ctr)
{
	uint64_t persisted = 0;
	char key[64];

	store = store->base; /* chunk-level: any repository's handle */

	if ((unsigned int)ctr >= PC_CTR_COUNT)
		return 0;
	persisted = store->ctr_base[ctr];
	if (store->readonly) {
		/* A view sees what the daemon flushed since it opened. */
		counter_key(ctr, key, sizeof(key));
		if (store_meta_read(store, key, 0, &persisted) < 0)
			persisted = store->ctr_base[ctr];
	}
	return persisted + atomic_load_explicit(&store->ctr_counted[ctr],
						memory_order_relaxed);
}

int pc_store_usage(struct pc_store *store, struct pc_store_usage *out)
{
	MDB_txn *txn;
	int rc;

	store = store->base; /* chunk-level: any repository's handle */

	memset(out, 0, sizeof(*out));
	if (!store->readonly) {
		out->chunks = atomic_load(&store->usage_chunks);
		out->bytes = atomic_load(&store->usage_bytes);
		return 0;
	}
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = store_meta_get(store, txn, META_USAGE_CHUNKS, 0, &out->chunks);
	if (rc == 0)
		rc = store_meta_get(store, txn, META_USAGE_BYTES, 0,
				    &out->bytes);
	mdb_txn_abort(txn);
	return rc;
}
