/*
 * pipeline.c - cutting files into chunks on one thread, hashing and storing
 * them on others.
 *
 * FastCDC is sequential (each cut depends on the bytes before it), so the
 * main thread reads every file and finds its cut points.  Hashing a chunk
 * and writing it into the repository depend on nothing else, so WORKERS
 * threads do that, straight from the buffer the main thread read into.
 * With three threads on two cores, a publish of fresh data is bound by
 * the CPU they need together; per GiB, about (perf, on SHA-NI): 0.8 s of
 * SHA-256, 0.3 s of cutting (two streams, format/cdc.c), 0.2 s of read()
 * and 0.5 s of writing objects (copies into the page cache, ext4).  Each
 * object's writeback starts as it is written (repo.c), so the syncfs()
 * before the head waits for little (it was a third of the time).
 *
 * Files are read (read(2), not mmap: a source file truncated while we read
 * it must be an error, not SIGBUS) into one of NWINDOWS windows of 16 MiB.
 * Jobs point into a window, so a window is refilled only when no job refers
 * to it; small files share a window, one after the other.  A file's chunk
 * list is complete when the last of its jobs is done; then the main thread
 * adds the file to the manifest.
 *
 * An object is checked for and written under a lock chosen by its hash,
 * so that two identical chunks in one run (two copies of a file) are
 * written once and counted once, exactly as without threads, while
 * different objects are written in parallel (on a fresh repository, copying
 * into the page cache is half of the work).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define WORKERS 2 /* two hashing keep up with one thread cutting */
#define NWINDOWS 3
#define WINDOW_SIZE (4 * PC_CHUNK_MAX)
#define QUEUE_LEN 64
#define STORE_LOCKS 64
#define INLINE_MAX (64 * 1024) /* smaller chunks: no worker */

struct window {
	uint8_t *data;
	size_t off, have; /* main thread only */
	unsigned refs;	  /* jobs pointing into it; guarded by pipe->lock */
};

/* A file whose chunks are not all stored yet, in the order of the walk. */
struct pending_file {
	struct pc_entry entry;	   /* chunks[]: guarded by pipe->lock */
	size_t capacity;	   /* of entry.chunks; guarded by pipe->lock */
	size_t unfinished;	   /* its jobs; guarded by pipe->lock */
	bool cut;		   /* all its chunks queued; main thread only */
	struct pending_file *next; /* main thread only */
};

/* Hash and store chunk @index of @file, which is @len bytes at @data. */
struct job {
	struct pending_file *file;
	uint32_t index;
	struct window *window;
	const uint8_t *data;
	size_t len;
};

struct pipeline {
	struct repo *repo;
	struct pc_manifest *manifest; /* main thread only */
	pthread_mutex_t lock;
	pthread_cond_t job_queued;   /* workers wait: a job, or stopping */
	pthread_cond_t job_finished; /* main waits: queue space, a window */
	struct job queue[QUEUE_LEN]; /* ring; guarded by lock */
	size_t first, queued;	     /* guarded by lock */
	size_t unfinished;	     /* queued or running; guarded by lock */
	bool stopping;		     /* guarded by lock */
	int error;		     /* first store error; guarded by lock */
	struct pipeline_stats stats; /* guarded by lock */
	/* A presence check and the write that follows it, as one step for
	 * one hash: store_locks[first byte % STORE_LOCKS]. */
	pthread_mutex_t store_locks[STORE_LOCKS];
	pthread_t workers[WORKERS];
	size_t nworkers;
	struct window windows[NWINDOWS];
	struct window *current;	    /* main thread only */
	struct pending_file *files; /* main thread only */
	struct pending_file **files_tail;
};

/* Hashes and stores one chunk (on a worker, or inline if it is small);
 * returns 1 if it was already stored. */
static int store(struct pipeline *pipe, const struct job *job,
		 struct pc_hash *hash)
{
	char hex[PC_HASH_HEX_LEN + 1];
	pthread_mutex_t *lock;
	int rc;

	pc_sha256(job->data, job->len, hash);
	lock = &pipe->store_locks[hash->bytes[0] % STORE_LOCKS];
	pthread_mutex_lock(lock);
	rc = repo_object_write(pipe->repo, hash, job->data, job->len);
	pthread_mutex_unlock(lock);
	if (rc < 0) {
		pc_hash_to_hex(hash, hex);
		fprintf(stderr, "error: cannot store chunk %s in %s: %s\n", hex,
			pipe->repo->path, strerror(-rc));
	}
	return rc;
}

/* Records a finished job; called with pipe->lock held. */
static void finish(struct pipeline *pipe, const struct job *job,
		   const struct pc_hash *hash, int rc)
{
	if (rc < 0 && !pipe->error)
		pipe->error = rc;
	if (rc == 0) {
		pipe->stats.chunks_new++;
		pipe->stats.bytes_new += job->len;
	} else if (rc > 0) {
		pipe->stats.chunks_reused++;
	}
	job->file->entry.chunks[job->index].hash = *hash;
	job->file->unfinished--;
	job->window->refs--;
	pipe->unfinished--;
	pthread_cond_signal(&pipe->job_finished);
}

static void *worker_main(void *arg)
{
	struct pipeline *pipe = arg;
	struct pc_hash hash;
	struct job job;
	int rc;

	pthread_mutex_lock(&pipe->lock);
	for (;;) {
		while (!pipe->queued && !pipe->stopping)
			pthread_cond_wait(&pipe->job_queued, &pipe->lock);
		if (!pipe->queued)
			break; /* stopping, and nothing left */
		job = pipe->queue[pipe->first];
		pipe->first = (pipe->first + 1) % QUEUE_LEN;
		pipe->queued--;
		/* After an error the publish is lost: only drain. */
		rc = pipe->error;
		memset(&hash, 0, sizeof(hash));
		pthread_mutex_unlock(&pipe->lock);
		if (rc == 0)
			rc = store(pipe, &job, &hash);
		pthread_mutex_lock(&pipe->lock);
		finish(pipe, &job, &hash, rc);
	}
	pthread_mutex_unlock(&pipe->lock);
	return NULL;
}

/* Adds the chunk of @len bytes at the current offset of @w to @file and
 * hands it to a worker; a small one is hashed and stored right here, as
 * waking a worker would cost more than the work (trees of many small files
 * would otherwise publish slower than on one thread). */
static int submit(struct pipeline *pipe, struct pending_file *file,
		  struct window *w, size_t len)
{
	struct pc_entry *entry = &file->entry;
	struct pc_hash hash;
	struct job job;
	int rc = 0;

	pthread_mutex_lock(&pipe->lock);
	while (pipe->queued == QUEUE_LEN && !pipe->error)
		pthread_cond_wait(&pipe->job_finished, &pipe->lock);
	if (pipe->error) {
		rc = pipe->error;
		goto out;
	}
	/* Workers write hashes into entry->chunks, so it grows under the
	 * lock. */
	if (entry->nchunks == file->capacity) {
		size_t cap = file->capacity ? file->capacity * 2 : 8;
		struct pc_chunk_ref *grown =
			realloc(entry->chunks, cap * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
			goto out;
		}
		entry->chunks = grown;
		file->capacity = cap;
	}
	entry->chunks[entry->nchunks].len = (uint32_t)len;
	job = (struct job){
		.file = file,
		.index = entry->nchunks,
		.window = w,
		.data = w->data + w->off,
		.len = len,
	};
	entry->nchunks++;
	file->unfinished++;
	pipe->unfinished++;
	w->refs++;
	if (len >= INLINE_MAX) {
		pipe->queue[(pipe->first + pipe->queued) % QUEUE_LEN] = job;
		pipe->queued++;
		pthread_cond_signal(&pipe->job_queued);
		goto out;
	}
	pthread_mutex_unlock(&pipe->lock);
	rc = store(pipe, &job, &hash);
	pthread_mutex_lock(&pipe->lock);
	finish(pipe, &job, &hash, rc);
out:
	pthread_mutex_unlock(&pipe->lock);
	return rc < 0 ? rc : 0;
}

/* A window that no job points into, other than the current one. */
static struct window *free_window(struct pipeline *pipe)
{
	struct window *found = NULL;

	pthread_mutex_lock(&pipe->lock);
	while (!found) {
		for (int i = 0; i < NWINDOWS && !found; i++)
			if (&pipe->windows[i] != pipe->current &&
			    pipe->windows[i].refs == 0)
				found = &pipe->windows[i];
		if (!found)
			pthread_cond_wait(&pipe->job_finished, &pipe->lock);
	}
	pthread_mutex_unlock(&pipe->lock);
	return found;
}

/* Reads more of @fd into the current window; when it is full, continues
 * in a free one, starting with the bytes not yet cut. */
static int refill(struct pipeline *pipe, int fd, bool *eof)
{
	struct window *w = pipe->current;
	ssize_t n;

	if (w->have == WINDOW_SIZE) {
		struct window *next = free_window(pipe);

		memcpy(next->data, w->data + w->off, w->have - w->off);
		next->have = w->have - w->off;
		next->off = 0;
		pipe->current = w = next;
	}
	n = read(fd, w->data + w->have, WINDOW_SIZE - w->have);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		*eof = true;
	w->have += (size_t)n;
	return 0;
}

static void free_file(struct pending_file *file)
{
	free(file->entry.path);
	free(file->entry.chunks);
	free(file);
}

/* Moves the files at the front of the list whose chunks are all stored into
 * the manifest.  Keeps the list short, whatever the size of the tree. */
static int harvest(struct pipeline *pipe)
{
	struct pending_file *file;
	bool stored;
	int rc = 0;

	while (rc == 0 && (file = pipe->files) != NULL && file->cut) {
		pthread_mutex_lock(&pipe->lock);
		stored = file->unfinished == 0;
		pthread_mutex_unlock(&pipe->lock);
		if (!stored)
			break;
		rc = pc_manifest_add(pipe->manifest, &file->entry);
		if (rc < 0)
			fprintf(stderr,
				"error: cannot add '%s' to the manifest: %s\n",
				file->entry.path, strerror(-rc));
		pipe->files = file->next;
		if (!pipe->files)
			pipe->files_tail = &pipe->files;
		free_file(file);
	}
	return rc;
}

int pipeline_add_file(struct pipeline *pipe, int fd,
		      const struct pc_entry *entry,
		      void (*on_chunk)(void *arg, size_t len), void *arg)
{
	struct pending_file *file;
	bool eof = false;
	int rc;

	rc = harvest(pipe);
	if (rc < 0)
		return rc;
	file = calloc(1, sizeof(*file));
	if (!file)
		return -ENOMEM;
	file->entry = *entry;
	file->entry.size = 0;
	file->entry.nchunks = 0;
	file->entry.chunks = NULL;
	file->entry.path = strdup(entry->path);
	if (!file->entry.path) {
		free(file);
		return -ENOMEM;
	}
	*pipe->files_tail = file;
	pipe->files_tail = &file->next;
	for (;;) {
		struct window *w = pipe->current;
		size_t len;

		/* pc_cdc_cut() wants PC_CHUNK_MAX bytes unless the file
		 * ends sooner. */
		if (!eof && w->have - w->off < PC_CHUNK_MAX) {
			rc = refill(pipe, fd, &eof);
			if (rc < 0)
				return rc;
			continue;
		}
		if (w->have == w->off) {
			file->cut = true;
			return 0;
		}
		len = pc_cdc_cut(w->data + w->off, w->have - w->off);
		rc = submit(pipe, file, w, len);
		if (rc < 0)
			return rc;
		w->off += len;
		file->entry.size += len;
		if (on_chunk)
			on_chunk(arg, len);
	}
}

int pipeline_finish(struct pipeline *pipe, struct pipeline_stats *stats)
{
	int rc;

	pthread_mutex_lock(&pipe->lock);
	while (pipe->unfinished)
		pthread_cond_wait(&pipe->job_finished, &pipe->lock);
	rc = pipe->error;
	*stats = pipe->stats;
	pthread_mutex_unlock(&pipe->lock);
	if (rc == 0)
		rc = harvest(pipe);
	return rc;
}

struct pipeline *pipeline_new(struct repo *repo, struct pc_manifest *manifest)
{
	struct pipeline *pipe = calloc(1, sizeof(*pipe));

	if (!pipe)
		return NULL;
	pipe->repo = repo;
	pipe->manifest = manifest;
	pipe->files_tail = &pipe->files;
	pthread_mutex_init(&pipe->lock, NULL);
	for (int i = 0; i < STORE_LOCKS; i++)
		pthread_mutex_init(&pipe->store_locks[i], NULL);
	pthread_cond_init(&pipe->job_queued, NULL);
	pthread_cond_init(&pipe->job_finished, NULL);
	for (int i = 0; i < NWINDOWS; i++) {
		pipe->windows[i].data = malloc(WINDOW_SIZE);
		if (!pipe->windows[i].data)
			goto fail;
	}
	pipe->current = &pipe->windows[0];
	for (; pipe->nworkers < WORKERS; pipe->nworkers++)
		if (pthread_create(&pipe->workers[pipe->nworkers], NULL,
				   worker_main, pipe) != 0)
			goto fail;
	return pipe;
fail:
	pipeline_free(pipe);
	return NULL;
}

void pipeline_free(struct pipeline *pipe)
{
	struct pending_file *next;

	if (!pipe)
		return;
	/* Workers finish what is queued (jobs point into our buffers), then
	 * exit. */
	pthread_mutex_lock(&pipe->lock);
	pipe->stopping = true;
	pthread_cond_broadcast(&pipe->job_queued);
	pthread_mutex_unlock(&pipe->lock);
	for (size_t i = 0; i < pipe->nworkers; i++)
		pthread_join(pipe->workers[i], NULL);
	for (struct pending_file *f = pipe->files; f; f = next) {
		next = f->next;
		free_file(f);
	}
	for (int i = 0; i < NWINDOWS; i++)
		free(pipe->windows[i].data);
	pthread_cond_destroy(&pipe->job_finished);
	pthread_cond_destroy(&pipe->job_queued);
	for (int i = 0; i < STORE_LOCKS; i++)
		pthread_mutex_destroy(&pipe->store_locks[i]);
	pthread_mutex_destroy(&pipe->lock);
	free(pipe);
}
