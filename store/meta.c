/*
 * meta.c - the index's metadata: unsigned numbers under short ASCII keys.
 *
 * Two kinds live in two places.  The chunk store's (schema, generation,
 * usage, counters, the clean-close mark, the list of repositories) are in
 * the shared "meta" database: store_meta_*.  A repository's version keys
 * (current, previous, highest version, next inode, hold, ...) are in its
 * own meta database, which for the default repository is "meta" itself,
 * so that a cache from before repositories reads unchanged:
 * store_repo_meta_*.  Values are le64 (codec.c).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int store_meta_get_in(MDB_txn *txn, MDB_dbi dbi, const char *key,
		      uint64_t fallback, uint64_t *value)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = store_mdb_error("reading index metadata",
				 mdb_get(txn, dbi, &k, &v));

	if (rc == -ENOENT) {
		*value = fallback;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (v.mv_size != 8) {
		store_log(NULL, PC_LOG_ERROR,
			  "index metadata '%s' is malformed", key);
		return -EIO;
	}
	*value = store_le64_get(v.mv_data);
	return 0;
}

int store_meta_put_in(MDB_txn *txn, MDB_dbi dbi, const char *key,
		      uint64_t value)
{
	uint8_t buf[8];
	MDB_val k = { strlen(key), (void *)key }, v = { 8, buf };

	store_le64_put(buf, value);
	return store_mdb_error("writing index metadata",
			       mdb_put(txn, dbi, &k, &v, 0));
}

static int meta_read_in(struct pc_store *store, MDB_dbi dbi, const char *key,
			uint64_t fallback, uint64_t *value)
{
	MDB_txn *txn;
	int rc = store_txn_begin(store, MDB_RDONLY, &txn);

	if (rc < 0)
		return rc;
	rc = store_meta_get_in(txn, dbi, key, fallback, value);
	mdb_txn_abort(txn);
	return rc;
}

int store_meta_get(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t fallback, uint64_t *value)
{
	return store_meta_get_in(txn, store->base->dbi.meta, key, fallback,
				 value);
}

int store_meta_read(struct pc_store *store, const char *key, uint64_t fallback,
		    uint64_t *value)
{
	return meta_read_in(store, store->base->dbi.meta, key, fallback, value);
}

int store_meta_put(struct pc_store *store, MDB_txn *txn, const char *key,
		   uint64_t value)
{
	return store_meta_put_in(txn, store->base->dbi.meta, key, value);
}

int store_repo_meta_get(struct pc_store *store, MDB_txn *txn, const char *key,
			uint64_t fallback, uint64_t *value)
{
	return store_meta_get_in(txn, store->repo.dbi.meta, key, fallback,
				 value);
}

int store_repo_meta_read(struct pc_store *store, const char *key,
			 uint64_t fallback, uint64_t *value)
{
	return meta_read_in(store, store->repo.dbi.meta, key, fallback, value);
}

int store_repo_meta_put(struct pc_store *store, MDB_txn *txn, const char *key,
			uint64_t value)
{
	return store_meta_put_in(txn, store->repo.dbi.meta, key, value);
}

static uint64_t add_clamped(uint64_t value, int64_t delta)
{
	if (delta < 0 && (uint64_t)-delta > value)
		return 0;
	return value + (uint64_t)delta;
}

int store_usage_apply(struct pc_store *store, MDB_txn *txn,
		      const struct store_usage_delta *delta)
{
	uint64_t chunks, bytes;
	int rc;

	if (!delta->chunks && !delta->bytes)
		return 0;
	rc = store_meta_get(store, txn, META_USAGE_CHUNKS, 0, &chunks);
	if (rc == 0)
		rc = store_meta_get(store, txn, META_USAGE_BYTES, 0, &bytes);
	if (rc == 0)
		rc = store_meta_put(store, txn, META_USAGE_CHUNKS,
				    add_clamped(chunks, delta->chunks));
	if (rc == 0)
		rc = store_meta_put(store, txn, META_USAGE_BYTES,
				    add_clamped(bytes, delta->bytes));
	return rc;
}
