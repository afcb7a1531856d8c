/*
 * chunk_rx.c - the body of a download, from the wire into the store: what
 * every chunk attempt shares, from a mirror or from a LAN peer.
 *
 * A chunk (at most PC_CHUNK_MAX bytes, its length known from the
 * manifest) is received into a memory buffer of exactly that length
 * (chunk_buf.c): the loop thread copies each piece that libcurl delivers.
 * As soon as NET_RX_SEGMENT_MIN bytes are waiting, the next segment goes
 * to a worker (workers.c), in order and one at a time per body: the worker
 * hashes it (SHA-256, OpenSSL EVP).  So the bytes are hashed as they
 * arrive, never read back, and the hashing overlaps the receiving on
 * another core.  The last job, queued when the transfer ends, finishes the
 * digest and compares it: on a match it tells the loop thread at once,
 * which hands the buffer to the readers waiting (they need not wait for
 * the disk), then writes the chunk to the store's tmp file in one write
 * (but see below) and renames it into the store (group commit: no sync,
 * store/commit.c), after which the fetch ends.  A full disk (or any store
 * error) leaves the chunk uncached, but verified and delivered from
 * memory to the readers waiting for it.  A mismatch throws it all away.
 * One exception: a whole body of at most NET_RX_HERE_MAX bytes that ends
 * while no job is out (a small file read alone, a first byte) is hashed
 * on the loop thread, which answers its readers at once; the handoff to
 * a worker and back cost them two thread wake-ups (~50 us of a 0.4 ms
 * first byte here), more than the hash.  The worker only stores it.
 *
 * The write of a chunk of NET_RX_DIRECT_MIN bytes or more bypasses the
 * page cache (O_DIRECT, pc_store_tmp_write_direct): its readers were
 * answered from memory, and a buffered write cost a quarter of the
 * daemon's CPU on a cold read (the copy into the page cache, its buffer
 * heads and delayed allocation, then the write-back that the group
 * commit's sync does anyway), while the mount's own page cache holds
 * the bytes for the next reader, and the recent chunks (chunk_buf.c)
 * the reads that come soon after.  The worker waits for the disk
 * instead, which is why there are more workers than cores (workers.c).
 * Except a chunk that a random reader waits for (PC_FETCH_RANDOM: fio,
 * an engine seeking through its definitions): it asked for a part of
 * it, and will ask for the rest in any order, after the recent chunks
 * let go of it: each from the disk.  Through the page cache, fio's random
 * reads (64 KiB) of a cold 300 MiB file took 0.44 s instead of 0.53.
 * Smaller chunks (small files), and every chunk where the cache's file
 * system keeps its files in memory anyway (tmpfs), take the older way:
 * each segment is written to the tmp file right after it is hashed,
 * while it is in the CPU's cache, except the last, written after the
 * verdict and the word to the readers (a one-segment chunk's file is
 * created only then: its readers never wait for the disk).
 *
 * Larger objects (manifests) keep the older way: streamed into a tmp file
 * on the loop thread and committed on a libuv worker, which reads the file
 * back, hashes, syncs and renames it (pc_store_tmp_commit).
 *
 * The loop thread owns everything here, except what a job holds while it
 * is on a worker (marked "job" below).  An attempt that ends while a job
 * is out (deadline, shutdown, a cancelled transfer) detaches the body;
 * the job's after() then frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* No read-ahead for this long after a full disk: what it would fetch could
 * not be kept either. */
#define STORE_FULL_PAUSE_MS 5000

struct net_rx {
	struct net_work work;	  /* its one job at a time */
	struct net_work verified; /* the last job's word before it stores */
	struct pc_net *net;
	struct net_fetch *fetch;  /* NULL once detached */
	struct pc_chunk_buf *buf; /* our reference */
	struct pc_hash expected;
	uint64_t len;	   /* the buffer's length: what must arrive */
	uint64_t received; /* copied into the buffer */
	uint64_t handed;   /* given to jobs */
	bool complete;	   /* the transfer ended: a last job follows */
	bool busy;	   /* a job is on a worker */
	char *url;	   /* of the transfer, for the log; owned */

	/* job: the segment, and what the worker that has it keeps. */
	uint64_t job_from, job_to;
	bool job_last;
	struct pc_sha256_ctx *sha;
	bool direct;	    /* written at the end, past the page cache: set by
			rx_pump() before the first job, read by the jobs */
	bool verified_here; /* hashed on the loop thread: store only */
	struct pc_store_tmp *tmp; /* NULL until the first write */
	int store_err;		  /* why the store did not keep it; 0 */
	int verdict;		  /* last job: 0, -EBADMSG, -ENOMEM */
};

static void rx_job_work(struct net_work *work);
static void rx_job_after(struct net_work *work);
static void rx_verified_after(struct net_work *work);

static struct net_rx *rx_new(struct net_fetch *f, const char *url)
{
	struct net_rx *rx = calloc(1, sizeof(*rx));

	if (!rx)
		return NULL;
	rx->buf = net_chunk_buf_new(f->len);
	rx->url = strdup(url);
	if (!rx->buf || !rx->url) {
		pc_chunk_buf_put(rx->buf);
		free(rx->url);
		free(rx);
		return NULL;
	}
	rx->work.work = rx_job_work;
	rx->work.after = rx_job_after;
	rx->verified.after = rx_verified_after;
	rx->net = f->net;
	rx->fetch = f;
	rx->expected = f->hash;
	rx->len = f->len;
	return rx;
}

static void rx_free(struct net_rx *rx)
{
	if (rx->tmp)
		pc_store_tmp_abort(rx->tmp);
	pc_sha256_free(rx->sha);
	pc_chunk_buf_put(rx->buf);
	free(rx->url);
	free(rx);
}

/* The attempt lets go of @rx; a job still out frees it when it is back. */
static void rx_detach(struct net_rx *rx)
{
	rx->fetch = NULL;
	if (!rx->busy)
		rx_free(rx);
}

static bool rx_verify_here(struct net_rx *rx);

/* Hands the bytes waiting to a worker, if it is time (or verifies a small
 * body here: rx_verify_here). */
static void rx_pump(struct net_rx *rx)
{
	uint64_t waiting = rx->received - rx->handed,
		 segment = NET_RX_SEGMENT_MIN;

	/* A body of several segments starts with a short one: the hashing
	 * starts while the rest is on its way. */
	if (rx->handed == 0 && rx->len > NET_RX_SEGMENT_MIN)
		segment = NET_RX_FIRST_SEGMENT;
	if (rx->busy || (!rx->complete && waiting < segment))
		return;
	if (rx_verify_here(rx))
		return;
	if (rx->handed == 0) /* the first job: how it will be written */
		rx->direct = rx->len >= NET_RX_DIRECT_MIN &&
			     !(rx->fetch && rx->fetch->random) &&
			     pc_store_tmp_bypasses_cache(rx->net->store);
	rx->job_from = rx->handed;
	rx->job_to = rx->received;
	rx->job_last = rx->complete;
	rx->handed = rx->received;
	rx->busy = true;
	net_workers_queue(rx->net, &rx->work);
}

/* ---- on a worker ------------------------------------------------------------ */

/* @n bytes at @bytes to the tmp file (created by the first write): with
 * @direct, past the page cache. */
static void rx_write(struct net_rx *rx, const uint8_t *bytes, size_t n,
		     bool direct)
{
	int rc;

	if (rx->store_err || n == 0)
		return;
	if (!rx->tmp) {
		errno = 0;
		rx->tmp = pc_store_tmp_begin(rx->net->store, &rx->expected,
					     rx->len);
		if (!rx->tmp) {
			rx->store_err = errno ? -errno : -EIO;
			return;
		}
	}
	rc = direct ? pc_store_tmp_write_direct(rx->tmp, bytes, n)
		    : pc_store_tmp_write(rx->tmp, bytes, n);
	if (rc < 0) {
		rx->store_err = rc;
		pc_store_tmp_abort(rx->tmp);
		rx->tmp = NULL;
	}
}

/* The verified chunk (@actual) to the store: the last segment (@last, @n)
 * or the whole chunk written, and the rename into the store. */
static void rx_store(struct net_rx *rx, const uint8_t *last, size_t n,
		     const struct pc_hash *actual)
{
	int rc;

	if (rx->direct)
		rx_write(rx, pc_chunk_buf_data(rx->buf), rx->len, true);
	else
		rx_write(rx, last, n, false);
	if (!rx->tmp)
		return; /* store_err says why */
	rc = pc_store_tmp_commit_hashed(rx->tmp, actual);
	rx->tmp = NULL;
	if (rc < 0)
		rx->store_err = rc;
}

/* The last job: the verdict, then the store. */
static void rx_finish(struct net_rx *rx, const uint8_t *last, size_t n)
{
	struct pc_hash actual;

	pc_sha256_final(rx->sha, &actual);
	if (rx->job_to != rx->len || !pc_hash_equal(&actual, &rx->expected)) {
		rx->verdict = -EBADMSG;
		return;
	}
	rx->verdict = 0;
	/* Written past the page cache: the reads that follow find it among
	 * the recent chunks, from before its file is renamed in (the read
	 * path opens a chunk's file, then looks here). */
	if (rx->direct)
		net_chunk_recent_add(rx->net, &rx->expected, rx->buf);
	/* The readers need not wait for the disk: they get the bytes now. */
	net_workers_post(rx->net, &rx->verified);
	rx_store(rx, last, n, &actual);
}

static void rx_job_work(struct net_work *work)
{
	struct net_rx *rx = container_of(work, struct net_rx, work);
	const uint8_t *segment = pc_chunk_buf_data(rx->buf) + rx->job_from;
	size_t n = (size_t)(rx->job_to - rx->job_from);

	if (rx->verified_here) {
		rx_store(rx, segment, n, &rx->expected);
		return;
	}
	if (!rx->sha) /* the first job */
		rx->sha = pc_sha256_new();
	if (!rx->sha) {
		rx->verdict = -ENOMEM;
		return;
	}
	pc_sha256_update(rx->sha, segment, n);
	/* While the segment is in the CPU's cache; the last one after the
	 * verdict, so that the readers of a one-segment chunk (a small file)
	 * need not wait for its file to be created. */
	if (!rx->direct && !rx->job_last)
		rx_write(rx, segment, n, false);
	if (rx->job_last)
		rx_finish(rx, segment, n);
}

/* ---- back on the loop thread ------------------------------------------------- */

/* The source the attempt of @f asks (for the causes of problems: a
 * mirror that serves a thousand bad chunks is one warning with a count). */
static const char *source_name(const struct pc_net *net,
			       const struct net_fetch *f)
{
	return f->source < net->fetcher.nsources
		       ? net->fetcher.sources[f->source].base
		       : "?";
}

static enum net_attempt bad_body(struct pc_net *net, struct net_fetch *f,
				 const char *url)
{
	char cause[300];

	snprintf(cause, sizeof(cause), "wrong bytes from %s",
		 source_name(net, f));
	pc_log_cause(PC_LOG_WARN, "net", cause,
		     "chunk %s from %s: hash mismatch, %s", f->hex, url,
		     net_fetch_another_source(net, f) ? "trying next source"
						      : "no other source");
	return NET_ATTEMPT_BAD;
}

/* A store error on chunk @f (@what: "not cached", "cannot store it"),
 * said once per error. */
static void store_trouble(const struct net_fetch *f, enum pc_log_level level,
			  const char *what, int err, const char *then)
{
	char cause[128];

	snprintf(cause, sizeof(cause), "chunk %s: %s", what, strerror(-err));
	pc_log_cause(level, "net", cause, "chunk %s: %s (%s)%s", f->hex, what,
		     strerror(-err), then);
}

/* A verified chunk the store did not keep: a warning (the cache is not
 * doing its job), and no read-ahead for a while after a full disk. */
static void store_refused(struct pc_net *net, struct net_fetch *f, int err)
{
	if (err == -ENOSPC)
		net->chunks.store_full_until =
			uv_now(&net->loop) + STORE_FULL_PAUSE_MS;
	store_trouble(f, PC_LOG_WARN, "verified but not cached", err,
		      "; its readers get it from memory");
}

/* The last job's word that the bytes are good (the job is still storing
 * them, and its after() comes next). */
static void rx_verified_after(struct net_work *work)
{
	struct net_rx *rx = container_of(work, struct net_rx, verified);

	if (rx->fetch)
		net_fetch_verified(rx->net, rx->fetch, rx->buf);
}

/* The last job is back: the attempt's outcome. */
static void rx_conclude(struct net_rx *rx)
{
	struct net_fetch *f = rx->fetch;
	struct pc_net *net = rx->net;
	enum net_attempt outcome = NET_ATTEMPT_OK;

	if (rx->verdict == -EBADMSG) {
		outcome = bad_body(net, f, rx->url);
	} else if (rx->verdict < 0) {
		store_trouble(f, PC_LOG_ERROR, "cannot hash it", rx->verdict,
			      "");
		outcome = NET_ATTEMPT_FATAL;
	} else {
		if (!f->buf) /* net_fetch_verified() took it already */
			f->buf = pc_chunk_buf_ref(rx->buf);
		f->stored = rx->store_err == 0;
		if (rx->store_err)
			store_refused(net, f, rx->store_err);
	}
	f->rx = NULL;
	rx_free(rx);
	net_fetch_attempt_done(net, f, outcome);
}

/* A whole small body while the workers have nothing to do is hashed here:
 * handing it to a worker and back costs its readers two wake-ups, more
 * than hashing NET_RX_HERE_MAX bytes (~40 us), and a busy loop thread
 * has the workers busy too.  The worker then only stores it.  false: it
 * goes to a worker. */
static bool rx_verify_here(struct net_rx *rx)
{
	struct net_fetch *f = rx->fetch;
	struct pc_sha256_ctx *sha;
	struct pc_hash actual;

	if (!rx->complete || rx->handed != 0 || rx->len > NET_RX_HERE_MAX ||
	    !net_workers_idle(rx->net))
		return false;
	sha = pc_sha256_new();
	if (!sha)
		return false; /* a worker says why */
	pc_sha256_update(sha, pc_chunk_buf_data(rx->buf), (size_t)rx->received);
	pc_sha256_final(sha, &actual);
	pc_sha256_free(sha);
	rx->job_from = 0;
	rx->job_to = rx->handed = rx->received;
	rx->job_last = true;
	if (rx->received != rx->len || !pc_hash_equal(&actual, &rx->expected)) {
		rx->verdict = -EBADMSG;
		rx_conclude(rx);
		return true;
	}
	rx->verdict = 0;
	rx->verified_here = true;
	/* Busy from here: a reader's callback that ended the attempt would
	 * detach it, not free it; the job below frees it then. */
	rx->busy = true;
	net_fetch_verified(rx->net, f, rx->buf);
	net_workers_queue(rx->net, &rx->work); /* to store it */
	return true;
}

static void rx_job_after(struct net_work *work)
{
	struct net_rx *rx = container_of(work, struct net_rx, work);

	rx->busy = false;
	if (!rx->fetch)
		rx_free(rx);
	else if (rx->job_last)
		rx_conclude(rx);
	else
		rx_pump(rx);
}

/* ---- larger objects: a tmp file and a commit on libuv's pool -------------- */

/*
 * A complete 200 body is committed on a libuv worker: the store checks the
 * hash, syncs the file and renames it.  The job owns the tmp file; if the
 * fetch ends meanwhile (deadline, shutdown) the job is detached and only
 * cleans up.
 */
struct commit_job {
	uv_work_t work;
	struct net_fetch *fetch; /* NULL once detached */
	struct pc_store_tmp *tmp;
	char *url;
	int rc; /* set by the worker, read in after_commit */
};

static bool object_on_data(struct net_fetch *f, const void *buf, size_t len)
{
	int rc;

	if (!f->tmp) {
		f->tmp = pc_store_tmp_begin(f->net->store, &f->hash, f->len);
		if (!f->tmp) {
			f->store_err = errno ? -errno : -EIO;
			return false;
		}
	}
	rc = pc_store_tmp_write(f->tmp, buf, len);
	if (rc == -EFBIG)
		f->too_long = true;
	else if (rc < 0)
		f->store_err = rc;
	return rc == 0;
}

static void work_commit(uv_work_t *work)
{
	struct commit_job *job = container_of(work, struct commit_job, work);

	job->rc = pc_store_tmp_commit(job->tmp);
}

static enum net_attempt commit_outcome(struct pc_net *net, struct net_fetch *f,
				       int rc, const char *url)
{
	if (rc == -EBADMSG)
		return bad_body(net, f, url);
	if (rc < 0) {
		store_trouble(f, PC_LOG_ERROR, "cannot store it", rc, "");
		return NET_ATTEMPT_FATAL;
	}
	f->stored = true;
	return NET_ATTEMPT_OK;
}

static void after_commit(uv_work_t *work, int status)
{
	struct commit_job *job = container_of(work, struct commit_job, work);
	struct net_fetch *f = job->fetch;

	if (status == UV_ECANCELED) { /* never ran */
		pc_store_tmp_abort(job->tmp);
		job->rc = -ECANCELED;
	}
	if (f) {
		f->commit = NULL;
		net_fetch_attempt_done(
			f->net, f,
			commit_outcome(f->net, f, job->rc, job->url));
	}
	free(job->url);
	free(job);
}

/* Hands @f's tmp file (none for an empty body) to a worker; false if it
 * cannot (then the file is gone and the store's trouble logged). */
static bool object_commit(struct pc_net *net, struct net_fetch *f,
			  const char *url)
{
	struct pc_store_tmp *tmp = f->tmp;
	struct commit_job *job;

	f->tmp = NULL;
	if (!tmp) /* an empty body: the store rejects its length */
		tmp = pc_store_tmp_begin(net->store, &f->hash, f->len);
	if (!tmp) {
		store_trouble(f, PC_LOG_ERROR, "cannot store it",
			      errno ? -errno : -EIO, "");
		return false;
	}
	job = calloc(1, sizeof(*job));
	if (job) {
		/* Complete before the worker can see it. */
		job->fetch = f;
		job->tmp = tmp;
		job->url = strdup(url);
	}
	if (!job || !job->url ||
	    uv_queue_work(&net->loop, &job->work, work_commit, after_commit) <
		    0) {
		store_trouble(f, PC_LOG_ERROR, "cannot store it", -ENOMEM, "");
		pc_store_tmp_abort(tmp);
		if (job)
			free(job->url);
		free(job);
		return false;
	}
	f->commit = job;
	return true;
}

/* ---- the transfer's callbacks ------------------------------------------------ */

static bool chunk_on_data(struct net_xfer *xfer, const void *data, size_t len)
{
	struct net_fetch *f = xfer->ctx;
	struct net_rx *rx = f->rx;

	if (net_xfer_status(xfer) != 200) {
		f->discarded += len;
		return f->discarded <= NET_DISCARD_MAX;
	}
	if (f->len > PC_CHUNK_MAX)
		return object_on_data(f, data, len);
	if (!rx) {
		rx = f->rx = rx_new(f, xfer->url);
		if (!rx) {
			f->store_err = -ENOMEM;
			return false;
		}
	}
	if (len > rx->len - rx->received) {
		f->too_long = true;
		return false;
	}
	memcpy(net_chunk_buf_bytes(rx->buf) + rx->received, data, len);
	rx->received += len;
	rx_pump(rx);
	return true;
}

/* Why an attempt delivered nothing usable; logs it once. */
static enum net_attempt failure(struct pc_net *net, struct net_fetch *f,
				struct net_xfer *xfer,
				const struct net_xfer_result *res)
{
	const char *next = net_fetch_another_source(net, f) ? "trying next "
							      "source"
							    : "no other source";

	char cause[300];

	if (f->store_err) {
		store_trouble(f, PC_LOG_ERROR, "cannot write the cache",
			      f->store_err, "");
		return NET_ATTEMPT_FATAL;
	}
	if (f->too_long) {
		snprintf(cause, sizeof(cause), "too many bytes from %s",
			 source_name(net, f));
		pc_log_cause(PC_LOG_WARN, "net", cause,
			     "chunk %s from %s: more than %" PRIu64 " bytes, "
			     "%s",
			     f->hex, xfer->url, f->len, next);
		return NET_ATTEMPT_BAD;
	}
	if (res->status != 200 && res->status != 0)
		pc_log(PC_LOG_INFO, "net",
		       "chunk %s from %s: HTTP status %ld, %s", f->hex,
		       xfer->url, res->status, next);
	else
		pc_log(PC_LOG_INFO, "net", "chunk %s from %s: %s, %s", f->hex,
		       xfer->url, res->message, next);
	return NET_ATTEMPT_FAILED;
}

static void chunk_on_done(struct net_xfer *xfer,
			  const struct net_xfer_result *res)
{
	struct net_fetch *f = xfer->ctx;
	struct pc_net *net = f->net;
	bool usable = !f->store_err && !f->too_long && !res->err &&
		      res->status == 200;

	f->xfer = NULL;
	if (!usable) {
		net_chunk_drop_body(f);
		net_fetch_attempt_done(net, f, failure(net, f, xfer, res));
	} else if (f->len > PC_CHUNK_MAX) {
		/* The outcome comes from after_commit. */
		if (!object_commit(net, f, xfer->url))
			net_fetch_attempt_done(net, f, NET_ATTEMPT_FATAL);
	} else if (!f->rx) { /* an empty body */
		net_fetch_attempt_done(net, f, bad_body(net, f, xfer->url));
	} else {
		/* The outcome comes from the last job (rx_conclude). */
		f->rx->complete = true;
		rx_pump(f->rx);
	}
}

const struct net_xfer_ops net_chunk_xfer_ops = {
	.data = chunk_on_data,
	.done = chunk_on_done,
};

void net_chunk_reset(struct net_fetch *f)
{
	f->store_err = 0;
	f->too_long = false;
	f->discarded = 0;
}

void net_chunk_drop_body(struct net_fetch *f)
{
	if (f->rx)
		rx_detach(f->rx);
	if (f->tmp)
		pc_store_tmp_abort(f->tmp);
	f->rx = NULL;
	f->tmp = NULL;
}

void net_chunk_cancel(struct pc_net *net, struct net_fetch *f)
{
	(void)net;
	if (f->xfer)
		net_xfer_cancel(f->xfer);
	f->xfer = NULL;
	net_chunk_drop_body(f);
	if (f->commit)
		f->commit->fetch = NULL; /* it finishes on its own */
	f->commit = NULL;
}
