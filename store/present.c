/*
 * present.c - which chunks may be in chunks/: a filter of bits, so that a
 * chunk that is not cached costs no path lookup.
 *
 * A read of a chunk that is not cached used to ask the file system three
 * times (the open's passthrough attempt and read-ahead, the read, the
 * fetch), and with cold dentries each of those reads the chunk
 * directory's blocks from the disk: 0.05-0.1 ms on this machine's virtual
 * disk, a seek on a spinning one, on the path of a cold first byte.
 *
 * The filter has two bits per chunk (from two 32-bit slices of its
 * SHA-256, which is uniform).  A clear bit says for sure that the index
 * did not name the chunk at open and that this process has not renamed it
 * in since: the lookups answer "not cached" without a system call.  A set
 * bit only says "maybe", and the file is looked up as before (the file
 * stays the truth): a chunk purged or discarded keeps its bits, so the
 * filter only ever errs towards a lookup.
 *
 * It is built at open, after the reconcile, from the index, which then
 * names every chunk file: a reconcile indexes or removes the others (one
 * that could not read a chunk directory leaves the store without a
 * filter), and a close leaves its clean mark, which skips the reconcile,
 * only if no chunk file was left unindexed (out of memory:
 * index_incomplete).  A bit is set after each rename into chunks/
 * (chunks.c), the only way a chunk file appears: a lookup between the two
 * answers "not cached", as one a moment earlier would have (the reader
 * gets the bytes from memory, or the chunk is fetched again: a duplicate),
 * so that a set bit with no file is always a chunk removed since.
 *
 * What it cannot see is a chunk file put in by someone else (the cache
 * lock keeps other daemons out, and a takeover's old process closes the
 * store before the new one opens it, so: an administrator's copy): such a
 * chunk is fetched again as if it were missing, its rename finds the file
 * there (a duplicate, dropped), and from then on its bits are set.  No
 * wrong byte can come of that, only a fetch.  A read-only view has no
 * filter.
 *
 * 2^23 bits (1 MiB): with two bits a chunk, under 0.1% of misses pay a
 * lookup with 100,000 chunks counted (those indexed at open plus those
 * come in since: bits are never cleared, so the rate grows with the
 * churn of a long uptime), 5% with a million.  Bits are set and read with
 * relaxed atomics on 64-bit words: whoever learns of a new chunk does so
 * through a lock or a wake-up after its bits were set, and a stale clear
 * bit would cost only a fetch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PRESENT_BITS (1u << 23)
#define PRESENT_WORDS (PRESENT_BITS / 64)

/* The two bits of @hash. */
static void bits_of(const struct pc_hash *hash, uint32_t bit[2])
{
	for (int i = 0; i < 2; i++) {
		uint32_t v;

		memcpy(&v, hash->bytes + 4 * i, sizeof(v));
		bit[i] = v & (PRESENT_BITS - 1);
	}
}

void store_present_mark(struct pc_store *store, const struct pc_hash *hash)
{
	uint32_t bit[2];

	if (!store->present)
		return;
	bits_of(hash, bit);
	for (int i = 0; i < 2; i++)
		atomic_fetch_or_explicit(&store->present[bit[i] / 64],
					 UINT64_C(1) << (bit[i] % 64),
					 memory_order_relaxed);
}

bool store_present_maybe(struct pc_store *store, const struct pc_hash *hash)
{
	uint32_t bit[2];

	if (!store->present)
		return true;
	bits_of(hash, bit);
	for (int i = 0; i < 2; i++)
		if (!(atomic_load_explicit(&store->present[bit[i] / 64],
					   memory_order_relaxed) &
		      (UINT64_C(1) << (bit[i] % 64))))
			return false;
	return true;
}

int store_present_build(struct pc_store *store)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	MDB_txn *txn;
	int rc, mrc;

	store->present = calloc(PRESENT_WORDS, sizeof(*store->present));
	if (!store->present)
		return -ENOMEM;
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		goto fail;
	rc = store_mdb_error("reading the chunk index",
			     mdb_cursor_open(txn, store->dbi.chunks, &cursor));
	if (rc < 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		struct pc_hash hash;

		if (key.mv_size != PC_HASH_LEN)
			continue;
		memcpy(hash.bytes, key.mv_data, PC_HASH_LEN);
		store_present_mark(store, &hash);
	}
	mdb_cursor_close(cursor);
	mdb_txn_abort(txn);
	if (mrc == MDB_NOTFOUND)
		return 0;
	rc = store_mdb_error("reading the chunk index", mrc);
fail:
	/* Without a whole filter, every lookup goes to the file system. */
	free((void *)store->present);
	store->present = NULL;
	return rc;
}

void store_present_free(struct pc_store *store)
{
	free((void *)store->present);
	store->present = NULL;
}
