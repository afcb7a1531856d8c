/*
 * pins.c - chunks that must not be purged: reference counts in memory.
 *
 * fs/ pins the chunks of a file while it is open and the chunks a parked
 * read waits for; net/ can pin a manifest it is about to install.  Pins are
 * taken on hot paths (every open), so they are a hash table under one
 * mutex held for a few instructions, never an LMDB write; they die with
 * the process, which is right: after a restart no file is open.
 *
 * A purge checks a chunk's pin and unlinks its file with pin_lock held
 * (purge.c), so a pin taken while the file exists keeps it: either the pin
 * came first and the purge skips the chunk, or the file was gone before
 * the pin and the reader will fetch it again, as for any miss.  The lock
 * is a reader-writer lock that prefers writers: the purge's unlink threads
 * share it (ext4 unlinks faster in parallel), a pin or unpin takes it
 * alone and waits at most for the unlinks in flight.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct store_pin {
	struct pc_hash hash;
	uint64_t refs;
	struct store_pin *next;
};

int store_pins_init(struct pc_store *store)
{
	store->pins = calloc(STORE_PIN_BUCKETS, sizeof(*store->pins));
	return store->pins ? 0 : -ENOMEM;
}

void store_pins_free(struct pc_store *store)
{
	struct store_pin *pin, *next;

	if (!store->pins)
		return;
	for (size_t i = 0; i < STORE_PIN_BUCKETS; i++) {
		for (pin = store->pins[i]; pin; pin = next) {
			next = pin->next;
			free(pin);
		}
	}
	free(store->pins);
	store->pins = NULL;
}

/* Chunk ids are SHA-256 digests: their first bytes are already uniform. */
static size_t bucket_of(const struct pc_hash *hash)
{
	return ((size_t)hash->bytes[0] << 8 | hash->bytes[1]) %
	       STORE_PIN_BUCKETS;
}

/* The link that points at @hash's pin, or at the NULL ending its bucket. */
static struct store_pin **find(struct pc_store *store,
			       const struct pc_hash *hash)
{
	struct store_pin **link = &store->pins[bucket_of(hash)];

	while (*link && !pc_hash_equal(&(*link)->hash, hash))
		link = &(*link)->next;
	return link;
}

static int pin_locked(struct pc_store *store, const struct pc_hash *hash)
{
	struct store_pin **link = find(store, hash);

	if (*link) {
		(*link)->refs++;
		return 0;
	}
	*link = calloc(1, sizeof(**link));
	if (!*link)
		return -ENOMEM;
	(*link)->hash = *hash;
	(*link)->refs = 1;
	return 0;
}

static void unpin_locked(struct pc_store *store, const struct pc_hash *hash)
{
	struct store_pin **link = find(store, hash);
	struct store_pin *pin = *link;

	if (!pin)
		return;
	assert(pin->refs > 0);
	if (--pin->refs)
		return;
	*link = pin->next;
	free(pin);
}

bool store_pinned_locked(struct pc_store *store, const struct pc_hash *hash)
{
	return *find(store, hash) != NULL;
}

int pc_store_pin(struct pc_store *store, const struct pc_hash *hash)
{
	int rc;

	store = store->base; /* chunk-level: any repository's handle */

	pthread_rwlock_wrlock(&store->pin_lock);
	rc = pin_locked(store, hash);
	pthread_rwlock_unlock(&store->pin_lock);
	return rc;
}

void pc_store_unpin(struct pc_store *store, const struct pc_hash *hash)
{
	store = store->base; /* chunk-level: any repository's handle */
	pthread_rwlock_wrlock(&store->pin_lock);
	unpin_locked(store, hash);
	pthread_rwlock_unlock(&store->pin_lock);
}

int pc_store_pin_chunks(struct pc_store *store,
			const struct pc_chunk_ref *chunks, size_t count)
{
	size_t i;
	int rc = 0;

	store = store->base; /* chunk-level: any repository's handle */

	pthread_rwlock_wrlock(&store->pin_lock);
	for (i = 0; i < count && rc == 0; i++)
		rc = pin_locked(store, &chunks[i].hash);
	if (rc < 0) /* all or nothing: undo the ones before the failure */
		for (size_t j = 0; j + 1 < i; j++)
			unpin_locked(store, &chunks[j].hash);
	pthread_rwlock_unlock(&store->pin_lock);
	return rc;
}

void pc_store_unpin_chunks(struct pc_store *store,
			   const struct pc_chunk_ref *chunks, size_t count)
{
	store = store->base; /* chunk-level: any repository's handle */
	pthread_rwlock_wrlock(&store->pin_lock);
	for (size_t i = 0; i < count; i++)
		unpin_locked(store, &chunks[i].hash);
	pthread_rwlock_unlock(&store->pin_lock);
}

bool pc_store_pinned(struct pc_store *store, const struct pc_hash *hash)
{
	bool pinned;

	store = store->base; /* chunk-level: any repository's handle */

	pthread_rwlock_rdlock(&store->pin_lock);
	pinned = store_pinned_locked(store, hash);
	pthread_rwlock_unlock(&store->pin_lock);
	return pinned;
}

uint64_t pc_store_pin_file_limit(struct pc_store *store)
{
	uint64_t quota = atomic_load(&store->base->quota);

	return quota ? quota / 4 : UINT64_MAX;
}
