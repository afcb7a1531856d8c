/*
 * mirror_index.c - the lengths of the objects a site node may pull
 * through (mirror_serve.c): every chunk of the current and the previous
 * version's files, and their manifests.
 *
 * The fetcher needs an object's exact length as the bound of its
 * download; a branch request names only the hash.  The store keeps the
 * chunk lists in its trees, not by hash, so the index is made from the
 * trees (one listing per directory, one inode record per file) when the
 * versions held change, and kept in an open-addressing table: 48 bytes
 * per object, a few MB for the largest repositories.  libmicrohttpd's
 * thread only (mirror_serve.c's caller), so no lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_serve.h"
#include "pc_log.h"

static size_t slot_of(const struct mirror_index *idx,
		      const struct pc_hash *hash)
{
	size_t h;

	memcpy(&h, hash->bytes, sizeof(h)); /* a SHA-256 is uniform */
	return h & idx->mask;
}

uint64_t mirror_index_find(const struct mirror_index *idx,
			   const struct pc_hash *hash)
{
	if (!idx->slots)
		return 0;
	for (size_t i = slot_of(idx, hash);; i = (i + 1) & idx->mask) {
		const struct mirror_index_entry *e = &idx->slots[i];

		if (!e->len)
			return 0;
		if (memcmp(e->hash.bytes, hash->bytes, PC_HASH_LEN) == 0)
			return e->len;
	}
}

static int index_grow(struct mirror_index *idx)
{
	size_t n = idx->slots ? (idx->mask + 1) * 2 : 1024;
	struct mirror_index_entry *old = idx->slots;
	size_t old_n = old ? idx->mask + 1 : 0;

	idx->slots = calloc(n, sizeof(*idx->slots));
	if (!idx->slots) {
		idx->slots = old;
		return -ENOMEM;
	}
	idx->mask = n - 1;
	idx->count = 0;
	for (size_t i = 0; i < old_n; i++) {
		if (!old[i].len)
			continue;
		size_t j = slot_of(idx, &old[i].hash);

		while (idx->slots[j].len)
			j = (j + 1) & idx->mask;
		idx->slots[j] = old[i];
		idx->count++;
	}
	free(old);
	return 0;
}

static int index_add(struct mirror_index *idx, const struct pc_hash *hash,
		     uint64_t len)
{
	size_t i;

	if (!len || mirror_index_find(idx, hash))
		return 0;
	if ((!idx->slots || (idx->count + 1) * 2 > idx->mask + 1) &&
	    index_grow(idx) < 0)
		return -ENOMEM;
	for (i = slot_of(idx, hash); idx->slots[i].len; i = (i + 1) & idx->mask)
		;
	idx->slots[i].hash = *hash;
	idx->slots[i].len = len;
	idx->count++;
	return 0;
}

/* A directory to walk: pushed on @dirs (grown as needed). */
static int push_dir(uint64_t **dirs, size_t *ndirs, size_t *cap, uint64_t ino)
{
	uint64_t *more;

	if (*ndirs == *cap) {
		more = realloc(*dirs, 2 * *cap * sizeof(**dirs));
		if (!more)
			return -ENOMEM;
		*dirs = more;
		*cap *= 2;
	}
	(*dirs)[(*ndirs)++] = ino;
	return 0;
}

/* The chunks of regular file @ino. */
static int index_file(struct pc_store *store, struct mirror_index *idx,
		      uint64_t ino)
{
	struct pc_inode inode;
	int rc = pc_store_inode(store, ino, &inode);

	for (uint32_t c = 0; rc == 0 && c < inode.nchunks; c++)
		rc = index_add(idx, &inode.chunks[c].hash, inode.chunks[c].len);
	pc_inode_release(&inode);
	return rc;
}

/* Every chunk of @v's files, and its manifest.  Directories are walked
 * with a stack of inode numbers, not recursion. */
static int index_version(struct pc_store *store, struct mirror_index *idx,
			 const struct pc_store_version *v)
{
	size_t ndirs = 0, cap = 64;
	uint64_t *dirs = malloc(cap * sizeof(*dirs));
	struct pc_dir_listing listing;
	int rc;

	if (!dirs)
		return -ENOMEM;
	rc = index_add(idx, &v->manifest, v->manifest_size);
	if (rc == 0)
		rc = push_dir(&dirs, &ndirs, &cap, PC_ROOT_INO);
	while (rc == 0 && ndirs) {
		rc = pc_store_list(store, v->version, dirs[--ndirs], &listing);
		if (rc < 0)
			break;
		for (size_t i = 0; rc == 0 && i < listing.count; i++) {
			const struct pc_dirent *d = &listing.entries[i];

			if (d->type == PC_ENTRY_DIR)
				rc = push_dir(&dirs, &ndirs, &cap, d->ino);
			else if (d->type == PC_ENTRY_FILE)
				rc = index_file(store, idx, d->ino);
		}
		pc_dir_listing_free(&listing);
	}
	free(dirs);
	return rc;
}

int mirror_index_refresh(struct mirror_index *idx, struct pc_store *store)
{
	struct pc_store_version cur = { 0 }, prev = { 0 };
	int rc;

	if (pc_store_current(store, &cur) < 0)
		cur.version = 0;
	if (pc_store_previous(store, &prev) < 0)
		prev.version = 0;
	if (idx->slots && idx->current == cur.version &&
	    idx->previous == prev.version)
		return 0;
	free(idx->slots);
	memset(idx, 0, sizeof(*idx));
	rc = cur.version ? index_version(store, idx, &cur) : 0;
	if (rc == 0 && prev.version)
		rc = index_version(store, idx, &prev);
	if (rc < 0) {
		free(idx->slots);
		memset(idx, 0, sizeof(*idx));
		pc_log_cause(PC_LOG_WARN, "net", "mirror-serve-index",
			     "mirror serve: cannot list the objects of "
			     "versions %" PRIu64 " and %" PRIu64 ": %s",
			     cur.version, prev.version, strerror(-rc));
		return rc;
	}
	idx->current = cur.version;
	idx->previous = prev.version;
	pc_log(PC_LOG_INFO, "net",
	       "mirror serve: %zu objects of versions %" PRIu64 " and %" PRIu64
	       " may be pulled through",
	       idx->count, cur.version, prev.version);
	return 0;
}

void mirror_index_free(struct mirror_index *idx)
{
	free(idx->slots);
	memset(idx, 0, sizeof(*idx));
}
