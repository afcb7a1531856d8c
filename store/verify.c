/*
 * verify.c - re-hashing the whole cache (peercachectl verify).
 *
 * Chunk files are verified before they are renamed into place, so a bad
 * one means the disk changed it (or someone did).  Reading every file can
 * take minutes, so nothing is held while reading: a short read transaction
 * picks the next VERIFY_BATCH entries in hash order, the files are read
 * with no transaction open, and the bad ones of the batch are removed in
 * one short write transaction (file first, then entry, as every removal).
 * Readers never wait for any of it, writers at most for one removal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define VERIFY_BATCH 64

struct verify_item {
	struct pc_hash hash;
	uint64_t size;	    /* as indexed */
	uint64_t file_size; /* as found */
	char why[64];	    /* empty if the chunk is good */
};

struct verify_run {
	struct pc_store *store;
	uint8_t resume[PC_HASH_LEN]; /* last hash looked at */
	bool resuming;
	bool done;
	struct verify_item batch[VERIFY_BATCH];
	size_t count;
	struct pc_verify_result *result;
};

/* The next batch of index entries, in hash order. */
static int collect(struct verify_run *run)
{
	struct pc_store *store = run->store;
	MDB_val key = { sizeof(run->resume), run->resume }, val;
	MDB_cursor_op op = run->resuming ? MDB_SET_RANGE : MDB_FIRST;
	struct store_chunk_rec rec;
	MDB_cursor *cursor;
	MDB_txn *txn;
	int rc, mrc;

	run->count = 0;
	rc = store_read_cursor(store, store->dbi.chunks, &txn, &cursor);
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, op);
	     mrc == 0 && run->count < VERIFY_BATCH;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		struct verify_item *item = &run->batch[run->count];

		if (key.mv_size != PC_HASH_LEN)
			continue;
		if (run->resuming &&
		    memcmp(key.mv_data, run->resume, PC_HASH_LEN) == 0)
			continue;
		memcpy(run->resume, key.mv_data, PC_HASH_LEN);
		run->resuming = true;
		memset(item, 0, sizeof(*item));
		memcpy(item->hash.bytes, key.mv_data, PC_HASH_LEN);
		/* A malformed record goes too: size 0 never matches. */
		if (store_chunk_rec_decode(&val, &rec) == 0)
			item->size = rec.size;
		run->count++;
	}
	if (mrc == MDB_NOTFOUND)
		run->done = true;
	else if (mrc != 0)
		rc = store_mdb_error("reading the chunk index", mrc);
	store_read_cursor_end(txn, cursor);
	return rc;
}

/* Reads and hashes @item's file; fills item->why if it is bad.  Only
 * -ENOMEM stops the verification. */
static int check(struct verify_run *run, struct verify_item *item)
{
	struct pc_store *store = run->store;
	char path[STORE_CHUNK_PATH_LEN];
	struct pc_hash actual;
	uint64_t read_bytes = 0;
	int rc;

	run->result->checked++;
	rc = pc_store_chunk_size(store, &item->hash, &item->file_size);
	if (rc < 0) {
		snprintf(item->why, sizeof(item->why), "no file (%s)",
			 strerror(-rc));
		return 0;
	}
	if (item->file_size != item->size) {
		snprintf(item->why, sizeof(item->why),
			 "%llu bytes instead of %llu",
			 (unsigned long long)item->file_size,
			 (unsigned long long)item->size);
		return 0;
	}
	store_chunk_path(&item->hash, path);
	rc = store_hash_file(store->chunks_fd, path, &actual, &read_bytes);
	if (rc == -ENOMEM)
		return rc;
	run->result->bytes += read_bytes;
	if (rc < 0)
		snprintf(item->why, sizeof(item->why), "unreadable (%s)",
			 strerror(-rc));
	else if (read_bytes != item->size)
		snprintf(item->why, sizeof(item->why),
			 "%llu bytes read instead of %llu",
			 (unsigned long long)read_bytes,
			 (unsigned long long)item->size);
	else if (!pc_hash_equal(&actual, &item->hash))
		snprintf(item->why, sizeof(item->why),
			 "content does not match its hash");
	return 0;
}

/* Removes the bad chunks of the batch; counts those whose entry this
 * removal deleted (a concurrent purge may have taken one first). */
static int remove_bad(struct verify_run *run)
{
	struct pc_store *store = run->store;
	struct store_usage_delta usage = { 0, 0 };
	char hex[PC_HASH_HEX_LEN + 1];
	bool any = false;
	MDB_txn *txn;
	int rc;

	for (size_t i = 0; i < run->count; i++)
		any |= run->batch[i].why[0] != '\0';
	if (!any)
		return 0;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < run->count && rc >= 0; i++) {
		struct verify_item *item = &run->batch[i];

		if (!item->why[0])
			continue;
		rc = store_unlink_chunk(store, &item->hash, item->size);
		if (rc < 0 && rc != -ENOENT)
			break;
		rc = store_index_drop(store, txn, &item->hash, &usage);
		if (rc != 1)
			continue;
		pc_hash_to_hex(&item->hash, hex);
		store_log(store, PC_LOG_WARN, "verify: removed chunk %s: %s",
			  hex, item->why);
		run->result->bad++;
		run->result->bad_bytes += item->size;
	}
	if (rc >= 0)
		rc = store_usage_apply(store, txn, &usage);
	if (rc >= 0)
		return store_txn_commit(txn, "removing damaged chunks");
	mdb_txn_abort(txn);
	return rc;
}

int pc_store_verify(struct pc_store *store, struct pc_verify_result *out)
{
	struct pc_verify_result ignored;
	struct verify_run *run;
	int rc;

	store = store->base; /* chunk-level: any repository's handle */

	if (!out)
		out = &ignored;
	memset(out, 0, sizeof(*out));
	if (store->readonly)
		return -EROFS;
	run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	run->store = store;
	run->result = out;
	rc = pc_store_flush(store); /* so that new chunks are checked too */
	if (rc < 0)
		store_log(store, PC_LOG_WARN,
			  "verify: flushing the index first failed: %s",
			  strerror(-rc));
	rc = 0;
	while (rc == 0 && !run->done) {
		rc = collect(run);
		for (size_t i = 0; rc == 0 && i < run->count; i++)
			rc = check(run, &run->batch[i]);
		if (rc == 0)
			rc = remove_bad(run);
	}
	store_log(store, PC_LOG_INFO,
		  "verify: %llu chunks (%llu bytes) checked, %llu removed",
		  (unsigned long long)out->checked,
		  (unsigned long long)out->bytes, (unsigned long long)out->bad);
	free(run);
	return rc;
}
