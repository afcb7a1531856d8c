/*
 * head_install.c - installing the version an accepted head names: its
 * manifest is fetched like any chunk (verified against the head's hash),
 * then read and installed on a libuv worker, because a large manifest
 * takes a while; the fs hook runs back on the loop thread.
 *
 * An install outlives the poll that started it.  The poll hands it its
 * waiters (refresh callers) and ends; later polls go on meanwhile, so that
 * a head naming a manifest that never arrives cannot stop the node from
 * seeing the next one:
 *   - a poll that finds the version being installed (or an older one)
 *     joins the install's waiters;
 *   - a poll that finds a newer version while the manifest is still being
 *     fetched supersedes the install: the newer one starts, takes over the
 *     waiters, and the older one is dropped when its fetch ends;
 *   - while the manifest is installed on the worker (which cannot be
 *     stopped midway) no poll starts; the next runs when it is done.
 * The manifest's fetch is bounded (fetch.c: fetch_timeout of retries, plus
 * a capped allowance for a large transfer in progress), so an install
 * always ends.  Loop thread, except work_install.
 */
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

struct net_install_job {
	struct pc_net_repo *repo;
	uv_work_t work;
	struct pc_head head;
	char source[512];	/* the mirror (or peer) the head came from */
	char body[PC_HEAD_MAX]; /* the head's bytes, kept for peers */
	size_t body_len;
	struct net_poll_waiter *waiters; /* told when it ends */
	bool on_worker;			 /* installing: cannot be stopped */
	bool deferred;	 /* fetched while switches were held (switch_hold.c) */
	bool dropped;	 /* superseded or shut down: ends without a word */
	int64_t started; /* unix time */
	/* Set by the worker thread, read in after_install (libuv orders
	 * the two). */
	int result;
	char error[512];
	struct pc_store_changes changes;
};

static void waiters_append(struct net_poll_waiter **list,
			   struct net_poll_waiter *more)
{
	while (*list)
		list = &(*list)->next;
	*list = more;
}

/* The install has ended (or was dropped): status, waiters, the next poll. */
static void job_end(struct pc_net_repo *repo, struct net_install_job *job)
{
	struct net_head *h = &repo->head;
	struct net_poll_waiter *waiters = job->waiters;

	pc_store_unpin(repo->store, &job->head.manifest);
	if (job->dropped) {
		net_call_waiters(waiters, -ECANCELED, "superseded");
		free(job);
		return;
	}
	h->job = NULL;
	net_status_installing(repo, 0);
	if (job->result != -ECANCELED)
		net_status_poll_ended(repo, job->result, job->error,
				      job->source);
	net_call_waiters(waiters, job->result, job->error);
	free(job);
	net_head_resume(repo);
}

/* The manifest being installed, mapped, and how far the stream got. */
struct mapped_manifest {
	void *map;
	size_t len;
	struct pc_manifest_stream *stream;
	size_t dropped; /* bytes before this are let go of */
};

/* Between two of the install's transactions: the pages the stream has
 * read are let go of, so that a manifest of 100 MB is never resident at
 * once (they come back from the file if touched again). */
static void drop_consumed(void *arg)
{
	struct mapped_manifest *mm = arg;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t upto = pc_manifest_stream_offset(mm->stream) / page * page;

	if (upto > mm->dropped) {
		madvise((char *)mm->map + mm->dropped, upto - mm->dropped,
			MADV_DONTNEED);
		mm->dropped = upto;
	}
}

/*
 * What an install freed goes back to the system, from every arena (worker
 * threads allocate from arenas of their own).  Not under a sanitizer: its
 * allocator is not glibc's, whose arenas are then set up by the first
 * malloc_trim, and two first calls at once (two repositories installing)
 * crashed in mtrim under TSan.
 */
static void give_back_memory(void)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
	!defined(__SANITIZE_THREAD__)
	malloc_trim(0);
#endif
}

/* Worker thread: read and install the manifest, streaming. */
static void work_install(uv_work_t *work)
{
	struct net_install_job *job =
		container_of(work, struct net_install_job, work);
	struct pc_store *store = job->repo->store;
	struct mapped_manifest mm = { 0 };
	char hex[PC_HASH_HEX_LEN + 1], why[256] = "";
	off_t size;
	int fd;

	pc_hash_to_hex(&job->head.manifest, hex);
	fd = pc_store_chunk_open(store, &job->head.manifest);
	if (fd < 0) {
		job->result = fd;
		snprintf(job->error, sizeof(job->error), "manifest %s: %s", hex,
			 strerror(-fd));
		return;
	}
	size = pc_store_fd_size(fd);
	if (size <= 0 || (uint64_t)size != job->head.manifest_size) {
		pc_store_fd_close(fd);
		job->result = -EBADMSG;
		snprintf(job->error, sizeof(job->error),
			 "manifest %s: not %" PRIu64 " bytes as the head says",
			 hex, job->head.manifest_size);
		return;
	}
	mm.len = (size_t)size;
	mm.map = mmap(NULL, mm.len, PROT_READ, MAP_PRIVATE, fd, 0);
	pc_store_fd_close(fd);
	if (mm.map == MAP_FAILED) {
		job->result = -errno;
		snprintf(job->error, sizeof(job->error), "manifest %s: %s", hex,
			 strerror(errno));
		return;
	}
	madvise(mm.map, mm.len, MADV_SEQUENTIAL);
	job->result = pc_manifest_stream_open(mm.map, mm.len, &mm.stream, why,
					      sizeof(why));
	if (job->result == 0)
		job->result = pc_store_install_stream(
			store, &job->head, mm.stream, drop_consumed, &mm,
			&job->changes, why, sizeof(why));
	pc_manifest_stream_free(mm.stream);
	munmap(mm.map, mm.len);
	/* Neighbours may ask us for it: /head is the first repository's. */
	if (job->result == 0 && job->repo->index == 0)
		net_peers_save_head(job->repo->net, job->body, job->body_len);
	if (job->result < 0 && why[0])
		snprintf(job->error, sizeof(job->error),
			 "version %" PRIu64 ": manifest %s: %s",
			 job->head.version, hex, why);
	else if (job->result < 0)
		snprintf(job->error, sizeof(job->error),
			 "installing version %" PRIu64 ": %s",
			 job->head.version, strerror(-job->result));
	give_back_memory();
}

static void after_install(uv_work_t *work, int status)
{
	struct net_install_job *job =
		container_of(work, struct net_install_job, work);
	struct pc_net_repo *repo = job->repo;
	void (*hook)(void *, uint64_t, const struct pc_store_changes *) =
		repo->hooks.version_switched;

	if (status == UV_ECANCELED) {
		job->result = -ECANCELED;
		snprintf(job->error, sizeof(job->error), "shutting down");
	}
	if (job->result == 0) {
		net_status_set_current(repo, job->head.expires);
		pc_log(PC_LOG_INFO, "net",
		       "%sversion %" PRIu64 " installed: %zu names changed",
		       net_repo_log_prefix(repo), job->head.version,
		       job->changes.count);
		if (hook && !repo->net->shutting_down)
			hook(repo->hooks.arg, job->head.version, &job->changes);
		pc_store_changes_free(&job->changes);
		net_upkeep_warm(repo->net);
	} else if (job->result != -ECANCELED) {
		pc_log(PC_LOG_ERROR, "net", "%s", job->error);
	}
	net_switch_end(repo->net); /* the hook has run */
	job_end(repo, job);
}

/* The manifest is here: the install goes to a worker, or waits while a
 * restart holds version switches (net_install_resume).  0 or -ENOMEM. */
static int queue_install(struct pc_net_repo *repo, struct net_install_job *job)
{
	if (!net_switch_begin(repo->net)) {
		if (!job->deferred)
			pc_log(PC_LOG_INFO, "net",
			       "version %" PRIu64 ": installed once the "
			       "restart under way is over",
			       job->head.version);
		job->deferred = true;
		return 0;
	}
	job->deferred = false;
	if (uv_queue_work(&repo->net->loop, &job->work, work_install,
			  after_install) < 0) {
		net_switch_end(repo->net);
		return -ENOMEM;
	}
	job->on_worker = true;
	return 0;
}

void net_install_resume(struct pc_net_repo *repo)
{
	struct net_install_job *job = repo->head.job;

	if (!job || !job->deferred || queue_install(repo, job) == 0)
		return;
	job->result = -ENOMEM;
	snprintf(job->error, sizeof(job->error),
		 "version %" PRIu64 ": cannot start a worker",
		 job->head.version);
	pc_log(PC_LOG_ERROR, "net", "%s", job->error);
	job_end(repo, job);
}

static void on_manifest_fetched(void *arg, int status)
{
	struct net_install_job *job = arg;
	struct pc_net_repo *repo = job->repo;
	char hex[PC_HASH_HEX_LEN + 1];
	int rc;

	if (status == 0 && !job->dropped) {
		rc = queue_install(repo, job);
		if (rc == 0)
			return;
		status = rc;
	}
	pc_hash_to_hex(&job->head.manifest, hex);
	job->result = status;
	snprintf(job->error, sizeof(job->error),
		 "version %" PRIu64 ": manifest %s (%" PRIu64 " bytes): %s",
		 job->head.version, hex, job->head.manifest_size,
		 status == -EIO		? "no source delivered it"
		 : status == -ETIMEDOUT ? "not fetched in time"
					: strerror(-status));
	if (status != -ECANCELED && !job->dropped)
		pc_log_cause(PC_LOG_WARN, "net", job->error, "%s", job->error);
	job_end(repo, job);
}

bool net_install_wants(struct pc_net_repo *repo, const struct pc_hash *hash)
{
	return repo->head.job &&
	       pc_hash_equal(&repo->head.job->head.manifest, hash);
}

uint64_t net_install_version(struct pc_net_repo *repo, bool *on_worker)
{
	struct net_install_job *job = repo->head.job;

	*on_worker = job && job->on_worker;
	return job ? job->head.version : 0;
}

void net_install_join(struct pc_net_repo *repo, struct net_poll_waiter *waiters)
{
	if (repo->head.job)
		waiters_append(&repo->head.job->waiters, waiters);
	else
		net_call_waiters(waiters, 0, "");
}

int net_install_start(struct pc_net_repo *repo, const struct pc_head *head,
		      const char *source, const char *body, size_t body_len,
		      struct net_poll_waiter *waiters)
{
	struct net_install_job *job = calloc(1, sizeof(*job));
	struct net_install_job *old = repo->head.job;
	int rc;

	NET_LOOP_ONLY(repo->net);
	if (!job)
		return -ENOMEM;
	if (old && old->on_worker) {
		free(job);
		return -EBUSY; /* never: no poll runs meanwhile */
	}
	job->repo = repo;
	job->head = *head;
	job->started = net_unix_now();
	snprintf(job->source, sizeof(job->source), "%s", source);
	memcpy(job->body, body, body_len);
	job->body_len = body_len;
	/* Not retained until installed: keep a purge off it meanwhile. */
	pc_store_pin(repo->store, &head->manifest);
	rc = net_fetch_object(repo->net, repo, &head->manifest,
			      head->manifest_size, on_manifest_fetched, job);
	if (rc < 0) {
		pc_store_unpin(repo->store, &head->manifest);
		free(job);
		return rc;
	}
	if (old) {
		/* Still fetching an older manifest: the newer head wins, and
		 * whoever waited for the older one hears of the newer. */
		pc_log(PC_LOG_INFO, "net",
		       "version %" PRIu64 " supersedes version %" PRIu64
		       ", whose manifest has not arrived",
		       head->version, old->head.version);
		old->dropped = true;
		waiters_append(&job->waiters, old->waiters);
		old->waiters = NULL;
		if (old->deferred) /* its fetch has ended: nothing else frees it */
			job_end(repo, old);
	}
	waiters_append(&job->waiters, waiters);
	repo->head.job = job;
	net_status_installing(repo, head->version);
	return 0;
}

void net_install_forget(struct pc_net_repo *repo, void *arg)
{
	if (repo->head.job)
		net_waiters_forget(repo->head.job->waiters, arg);
}

void net_install_shutdown(struct pc_net_repo *repo)
{
	struct net_install_job *job = repo->head.job;

	if (!job)
		return;
	/* Installing on a worker: it cannot be stopped midway, so the loop
	 * runs until after_install has freed it. */
	repo->head.job = NULL;
	job->dropped = true;
	net_call_waiters(job->waiters, -ECANCELED, "shutting down");
	job->waiters = NULL;
	if (job->on_worker)
		uv_cancel((uv_req_t *)&job->work);
	else if (job->deferred) /* waits for no callback */
		job_end(repo, job);
}
