/*
 * prefetch.c - fetching a file or a whole tree of the current version into
 * the cache ahead of its readers (peercachectl prefetch PATH).
 *
 * A worker resolves PATH in the version current at the start and lists
 * the chunks of every file under it that are not cached (the store's tree
 * reads are LMDB read transactions and the presence checks syscalls: not
 * for the loop thread when the tree is large).  The loop then fetches
 * them through the normal fetch path, as read-ahead: readers' fetches go
 * first, peers before the mirrors, every byte verified.  At most two
 * fetches per transfer slot (and half the read-ahead queue) are in flight,
 * so a tree of any size costs a bounded queue.  The chunks are not pinned:
 * a tree larger than the quota churns through the cache.  Loop thread,
 * except the walk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

struct net_prefetch_job {
	struct pc_net *net;
	struct pc_net_repo *repo; /* whose tree, whose mirrors */
	net_prefetch_done done;	  /* NULL once abandoned */
	void *arg;
	uv_work_t work;
	char path[NET_PREFETCH_PATH_MAX + 1];
	/* Set by the walk. */
	int walk_rc;
	uint64_t version;
	struct pc_chunk_ref *refs;
	size_t nrefs, cap; /* the chunks not cached at the walk */
	uint64_t files, bytes, chunks, cached; /* all under the path */
	/* The fetches. */
	size_t next;
	size_t announced; /* refs before this one were in a lookahead */
	unsigned inflight;
	bool walking, pumping, over;
	uint64_t started_ms;
	struct net_prefetch_result res;
};

/* ---- the walk (worker thread) ---------------------------------------------- */

static int add_file(struct net_prefetch_job *job, uint64_t ino)
{
	struct pc_inode inode;
	int rc = pc_store_inode(job->repo->store, ino, &inode);

	if (rc < 0)
		return rc;
	job->files++;
	job->bytes += inode.size;
	job->chunks += inode.nchunks;
	if (job->nrefs + inode.nchunks > job->cap) {
		size_t cap = job->cap ? job->cap : 256;
		struct pc_chunk_ref *grown;

		while (cap < job->nrefs + inode.nchunks)
			cap *= 2;
		grown = realloc(job->refs, cap * sizeof(*grown));
		if (!grown) {
			pc_inode_release(&inode);
			return -ENOMEM;
		}
		job->refs = grown;
		job->cap = cap;
	}
	/* Only what is missing goes to the loop: no disk check there. */
	for (uint32_t i = 0; i < inode.nchunks; i++) {
		if (pc_store_chunk_present(job->repo->store,
					   &inode.chunks[i].hash))
			job->cached++;
		else
			job->refs[job->nrefs++] = inode.chunks[i];
	}
	pc_inode_release(&inode);
	return 0;
}

/* Every file under directory @dir, depth first. */
static int add_tree(struct net_prefetch_job *job, uint64_t dir, unsigned depth)
{
	struct pc_dir_listing listing;
	int rc;

	if (depth > NET_PREFETCH_DEPTH_MAX)
		return -ELOOP;
	rc = pc_store_list(job->repo->store, job->version, dir, &listing);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < listing.count; i++) {
		const struct pc_dirent *e = &listing.entries[i];

		if (e->type == PC_ENTRY_FILE)
			rc = add_file(job, e->ino);
		else if (e->type == PC_ENTRY_DIR)
			rc = add_tree(job, e->ino, depth + 1);
	}
	pc_dir_listing_free(&listing);
	return rc;
}

static int walk(struct net_prefetch_job *job)
{
	struct pc_store *store = job->repo->store;
	struct pc_store_version current;
	struct pc_inode inode = { .ino = PC_ROOT_INO, .type = PC_ENTRY_DIR };
	char path[sizeof(job->path)], *name, *save = NULL;
	int rc = pc_store_current(store, &current);
	enum pc_entry_type type;
	uint64_t ino;

	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	job->version = current.version;
	memcpy(path, job->path, sizeof(path));
	for (name = strtok_r(path, "/", &save); name;
	     name = strtok_r(NULL, "/", &save)) {
		uint64_t parent = inode.ino;

		if (strcmp(name, ".") == 0)
			continue;
		pc_inode_release(&inode);
		if (strcmp(name, "..") == 0)
			return -EINVAL;
		rc = pc_store_lookup(store, job->version, parent, name, &inode);
		if (rc < 0)
			return rc;
	}
	ino = inode.ino;
	type = inode.type;
	pc_inode_release(&inode);
	if (type == PC_ENTRY_FILE)
		return add_file(job, ino);
	if (type == PC_ENTRY_DIR)
		return add_tree(job, ino, 0);
	return -EINVAL; /* a symlink: its target is the reader's business */
}

static void work_walk(uv_work_t *work)
{
	struct net_prefetch_job *job =
		container_of(work, struct net_prefetch_job, work);

	job->walk_rc = walk(job);
}

/* ---- the fetches (loop thread) --------------------------------------------- */

static void job_free(struct net_prefetch_job *job)
{
	free(job->refs);
	free(job);
}

static void finish(struct net_prefetch_job *job)
{
	struct net_prefetch_result *r = &job->res;

	job->over = true;
	r->version = job->version;
	r->files = job->files;
	r->chunks = job->chunks;
	r->cached = job->cached;
	r->bytes = job->bytes;
	r->seconds =
		(double)(uv_now(&job->net->loop) - job->started_ms) / 1000.0;
	if (r->rc == 0 && r->failed)
		r->rc = -EIO;
	if (job->done)
		job->done(job->arg, r);
	else
		pc_log(PC_LOG_INFO, "net",
		       "prefetch %s: its client went away; stopped with %llu "
		       "of %zu missing chunks fetched",
		       job->path, (unsigned long long)r->fetched, job->nrefs);
	job_free(job);
}

static void pump(struct net_prefetch_job *job);

static void on_chunk(void *arg, int status)
{
	struct net_prefetch_job *job = arg;

	job->inflight--;
	if (status == 0) {
		job->res.fetched++;
	} else {
		job->res.failed++;
		if (status == -ECANCELED)
			job->res.rc = -ECANCELED;
	}
	if (!job->pumping)
		pump(job);
}

static void pump(struct net_prefetch_job *job)
{
	struct pc_net *net = job->net;
	/* Two per transfer slot, within half the read-ahead queue: readers'
	 * read-ahead must still find room (net_fetch_prefetch). */
	unsigned window = 2 * (unsigned)net->cfg->max_fetches;
	const struct pc_chunk_ref *ref;
	bool stop;

	if (window > NET_PREFETCH_QUEUE_MAX / 2)
		window = NET_PREFETCH_QUEUE_MAX / 2;

	job->pumping = true;
	for (;;) {
		stop = !job->done || net->shutting_down ||
		       job->res.rc == -ECANCELED;
		if (stop || job->next >= job->nrefs || job->inflight >= window)
			break;
		if (job->next + window >= job->announced) {
			/* The next probe asks about the chunks after these
			 * too (as for a sequential reader, fs/read.c). */
			size_t n = job->nrefs - job->next;

			if (n > PC_DISC_MAX_HASHES)
				n = PC_DISC_MAX_HASHES;
			net_peer_lookahead(net, job->refs + job->next, n);
			job->announced = job->next + n;
		}
		ref = &job->refs[job->next++];
		job->inflight++;
		if (net_fetch_background(net, job->repo, ref, on_chunk, job) <
		    0) {
			job->inflight--;
			job->res.failed++;
		}
	}
	job->pumping = false;
	if (job->inflight == 0 && (stop || job->next >= job->nrefs)) {
		if (stop && job->next < job->nrefs && job->res.rc == 0)
			job->res.rc = -ECANCELED;
		finish(job);
	}
}

static void after_walk(uv_work_t *work, int status)
{
	struct net_prefetch_job *job =
		container_of(work, struct net_prefetch_job, work);

	job->walking = false;
	if (status < 0)
		job->walk_rc = status;
	if (job->walk_rc < 0) {
		job->res.rc = job->walk_rc;
		finish(job);
		return;
	}
	pump(job);
}

struct net_prefetch_job *net_prefetch_start(struct pc_net_repo *repo,
					    const char *path,
					    net_prefetch_done done, void *arg,
					    int *err)
{
	struct net_prefetch_job *job;

	if (strlen(path) > NET_PREFETCH_PATH_MAX) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		*err = -ENOMEM;
		return NULL;
	}
	job->net = repo->net;
	job->repo = repo;
	job->done = done;
	job->arg = arg;
	snprintf(job->path, sizeof(job->path), "%s", path);
	job->started_ms = uv_now(&repo->net->loop);
	job->walking = true;
	*err = uv_queue_work(&repo->net->loop, &job->work, work_walk,
			     after_walk);
	if (*err < 0) {
		free(job);
		return NULL;
	}
	return job;
}

void net_prefetch_abandon(struct net_prefetch_job *job)
{
	/* No callback from now on; the fetches in flight and the walk end
	 * on their own, and the last of them frees the job. */
	job->done = NULL;
}
