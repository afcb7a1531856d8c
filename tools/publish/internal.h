/*
 * internal.h - shared by the files of peercache-publish.
 *
 * A repository directory (REPO_DIR) holds:
 *   head                 the signed head, replaced by rename (written last)
 *   chunks/ab/<hex>      content-addressed objects (chunks and manifests)
 *   versions             publisher-private: retained versions, newest last
 *   .lock                publisher-private: flock() against a second run
 * Only head and chunks/ are needed to serve it.
 */
#ifndef PC_PUBLISH_INTERNAL_H
#define PC_PUBLISH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "pc_format.h"

struct repo {
	int dirfd;  /* REPO_DIR, O_DIRECTORY */
	int lockfd; /* REPO_DIR/.lock with LOCK_EX held, or -1 */
	const char *path;
};

struct version_rec {
	uint64_t version;
	struct pc_hash manifest;
	uint64_t manifest_size;
	int64_t created;
};

/* A sorted set of hashes: the objects that retained versions reference. */
struct hash_set {
	struct pc_hash *items;
	size_t count, capacity;
};

/* repo.c */
/* mkdir -p @path, refusing to make or use a directory within
 * @outside_of (stat of a directory): 0 once @path is a directory outside
 * it, 1 if it is or would be within it (nothing is made there), -errno. */
int repo_make_dirs(const char *path, const struct stat *outside_of);
int repo_open(struct repo *repo, const char *path, bool create, bool lock);
void repo_close(struct repo *repo);
/* Relative object path "chunks/ab/<hex>" into @buf (at least 76 bytes). */
void repo_object_path(const struct pc_hash *hash, char *buf);
/* 1 if the object exists with @len bytes, 0 if absent, -errno otherwise. */
int repo_object_present(struct repo *repo, const struct pc_hash *hash,
			uint64_t len);
/* Writes @data as object @hash (temp file + rename).  0 if written, 1 if
 * it was already present (then nothing is written), -errno. */
int repo_object_write(struct repo *repo, const struct pc_hash *hash,
		      const void *data, size_t len);
/* Reads a whole object of at most @max bytes into a new buffer (caller
 * frees).  -ENOENT, -EFBIG or -errno. */
int repo_object_read(struct repo *repo, const struct pc_hash *hash,
		     uint64_t max, char **buf, size_t *len);
/* Reads REPO_DIR/head (at most PC_HEAD_MAX + 1 bytes).  -ENOENT if none. */
int repo_head_read(struct repo *repo, char **buf, size_t *len);
/* Atomically replaces a small file in REPO_DIR (tmp, fsync, rename). */
int repo_replace_file(struct repo *repo, const char *name, const void *data,
		      size_t len);
/* The retained versions, oldest first (caller frees *recs). */
int repo_versions_read(struct repo *repo, struct version_rec **recs,
		       size_t *count);
int repo_versions_write(struct repo *repo, const struct version_rec *recs,
			size_t count);

int hash_set_add(struct hash_set *set, const struct pc_hash *hash);
void hash_set_finish(struct hash_set *set); /* sort and dedupe */
bool hash_set_contains(const struct hash_set *set, const struct pc_hash *hash);
void hash_set_free(struct hash_set *set);

/* Loads and checks the manifest a head names; caller frees *out. */
int repo_load_manifest(struct repo *repo, const struct pc_hash *hash,
		       uint64_t size, struct pc_manifest **out, char *err,
		       size_t errlen);

/* pipeline.c: chunking on the calling thread, hashing and storing on
 * worker threads.  Not thread-safe itself: one caller thread. */
struct pipeline;
struct pipeline_stats {
	uint64_t chunks_new, chunks_reused, bytes_new;
};
/* Starts the workers; files go into @manifest (borrowed, must outlive the
 * pipeline).  NULL if out of memory or threads. */
struct pipeline *pipeline_new(struct repo *repo, struct pc_manifest *manifest);
/* Reads @fd to its end and queues its chunks; @entry gives the path, mode
 * and mtime (copied).  @on_chunk (may be NULL) is told the length of each
 * chunk as it is cut.  The file reaches the manifest once its chunks are
 * stored.  -errno of a read, or of an earlier store failure. */
int pipeline_add_file(struct pipeline *pipe, int fd,
		      const struct pc_entry *entry,
		      void (*on_chunk)(void *arg, size_t len), void *arg);
/* Waits until every chunk is stored and every file is in the manifest. */
int pipeline_finish(struct pipeline *pipe, struct pipeline_stats *stats);
/* Stops the workers (after what is queued) and frees; NULL is fine. */
void pipeline_free(struct pipeline *pipe);

/* publish.c */
struct publish_opts {
	const char *keyfile;
	const char *name;
	const char *source;
	const char *repo;
	unsigned keep;
	uint64_t valid_for;
	bool progress;
};
int publish_run(const struct publish_opts *opts);

/* verify.c */
int verify_run(const char *repo_path, const char *const *keys, size_t nkeys,
	       const char *extract_to);

#endif
