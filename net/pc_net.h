/*
 * pc_net.h - everything that talks to the network, on one libuv loop
 * thread: chunk fetches (libcurl multi driven by libuv, single flight per
 * hash, LAN peers first, then the mirrors in order, received into memory,
 * SHA-256 verified and written to the store by worker threads before
 * anyone reads them), the head poller that installs new versions, the
 * store's flush timer, and the control socket.
 *
 * fs/ calls in from FUSE worker threads; every entry point below is
 * thread-safe unless it says otherwise.  Callbacks run on the loop thread
 * and must not block.
 */
#ifndef PC_NET_H
#define PC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_format.h"
#include "pc_store.h"

struct pc_net;

struct pc_net_hooks {
	/* Loop thread, after a new version was installed in the store:
	 * invalidate what changed in the kernel's caches. */
	void (*version_switched)(void *arg, uint64_t version,
				 const struct pc_store_changes *changes);
	/* Loop thread, the control socket's "restart": @client_fd (the
	 * caller's to answer with one JSON line, and close) waits for the
	 * outcome.  NULL: the command is refused. */
	void (*restart)(void *arg, int client_fd);
	void *arg;
};

/*
 * @cfg, @store and @ring are borrowed and must outlive the net.  NULL with
 * @err set on failure (bad mirror URL, control socket in use, ...).
 * Sets SIGPIPE to SIG_IGN if it has the default disposition (a control
 * client that hangs up early must not kill the daemon).
 */
struct pc_net *pc_net_new(const struct pc_config *cfg, struct pc_store *store,
			  const struct pc_keyring *ring,
			  const struct pc_net_hooks *hooks, char *err,
			  size_t errlen);
/*
 * What start-up would refuse in @cfg (a finished configuration), checked
 * with the same functions but nothing started: mirror URLs, the number
 * of mirrors in all repositories (as start-up counts them), trusted keys
 * (each file read and parsed), and, as start-up reads them, peer_allow,
 * fleet_key_file, metrics_listen and control_group.  Not what needs the
 * network (static peer names, ports in use).  0, or -errno with @err set.
 * For `peercache --print-config`.
 */
int pc_net_check_config(const struct pc_config *cfg, char *err, size_t errlen);
/* Starts the loop thread (fetcher, poll timer, flush timer, control
 * socket). */
int pc_net_start(struct pc_net *net);
/* Stops the loop: pending fetches complete with -ECANCELED, the store is
 * flushed; joins the thread.  Idempotent.  Not from a callback (the loop
 * thread cannot join itself). */
void pc_net_stop(struct pc_net *net);
void pc_net_free(struct pc_net *net);

/* ---- chunk fetches ------------------------------------------------------- */

/* Runs exactly once, on the loop thread: 0 (the chunk is now in the store),
 * -EIO (no source delivered valid data, or the store could not keep it: a
 * full disk), -ETIMEDOUT (fetch_timeout passed), -ECANCELED (shutting
 * down). */
typedef void (*pc_fetch_done)(void *arg, int status);

/*
 * A chunk's verified bytes in memory, reference counted (any thread).  A
 * fetch receives the chunk into one and hands it to the readers that wait
 * for it, which keep their reference until their reply is sent: nothing
 * that happens to the chunk in the store meanwhile (a purge, a full disk)
 * can make them fail.  Immutable once handed out.
 */
struct pc_chunk_buf;
const uint8_t *pc_chunk_buf_data(const struct pc_chunk_buf *buf);
size_t pc_chunk_buf_len(const struct pc_chunk_buf *buf);
/* Another reference to @buf; returns @buf. */
struct pc_chunk_buf *pc_chunk_buf_ref(struct pc_chunk_buf *buf);
/* Drops a reference (NULL: no-op); the last one frees the bytes. */
void pc_chunk_buf_put(struct pc_chunk_buf *buf);
/* A chunk fetched a moment ago, still in memory: a new reference to its
 * verified bytes (the caller's to put), or NULL.  Any thread.  Large
 * chunks go to the store's disk without a copy in the page cache, so a
 * reader that comes for one soon after its fetch (the kernel's read-ahead
 * behind the daemon's) gets it from here instead of from the disk. */
struct pc_chunk_buf *pc_net_chunk_recent(struct pc_net *net,
					 const struct pc_hash *hash);

/*
 * Runs exactly once, on the loop thread.  Status as for pc_fetch_done,
 * except that a verified chunk the store could not keep is still a
 * success.  On success the bytes are either in @buf (borrowed for the
 * call: keep them with pc_chunk_buf_ref) or, when the chunk was cached
 * already, in the chunk file open on @fd (the callee's to close); the
 * other one is NULL, or -1.  On failure both are.
 */
typedef void (*pc_fetch_data_done)(void *arg, int status,
				   struct pc_chunk_buf *buf, int fd);

/*
 * Gets chunk @ref into the store.  Concurrent requests for one hash share
 * one download (single flight).  Returns 0 (@done will run) or -ENOMEM;
 * also -EINVAL (@ref->len is 0 or over PC_CHUNK_MAX) and -ECANCELED (the
 * net is stopping), in which cases @done never runs.  Never blocks on the
 * network.
 */
int pc_net_fetch(struct pc_net *net, const struct pc_chunk_ref *ref,
		 pc_fetch_done done, void *arg);
/* The same for a reader: @done gets the verified bytes themselves (see
 * pc_fetch_data_done) as soon as they are verified and written, whether
 * or not the store could keep them, and however long it keeps them. */
int pc_net_fetch_data(struct pc_net *net, const struct pc_chunk_ref *ref,
		      pc_fetch_data_done done, void *arg);
/* Fetches chunks not yet cached, in the background, no callback.  Best
 * effort: readers' fetches go first, and read-ahead beyond a bounded
 * queue is dropped. */
void pc_net_prefetch(struct pc_net *net, const struct pc_chunk_ref *refs,
		     size_t count);
/* A sequential reader will soon want these chunks: the next discovery
 * probe asks the peers about them too (at most 64; the newest call
 * replaces the previous list), so that their fetches find a holder known
 * and need no probe of their own.  Sends nothing by itself; a no-op with
 * discovery off.  Best effort, like pc_net_prefetch. */
void pc_net_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
		      size_t count);

/* ---- versions ------------------------------------------------------------ */

/*
 * Polls the head now.  With @wait, blocks the calling thread (never the
 * loop thread) until the poll and any version switch are done or
 * @timeout_ms passed, and returns the outcome: 0 (up to date or switched),
 * or a negative errno with the reason in the status: -ETIMEDOUT (waited
 * @timeout_ms), -ENOKEY, -EKEYREJECTED, -EBADMSG, -EFBIG (the head's
 * signature or syntax, see pc_head_parse), -EPERM (another repository),
 * -ESTALE (rollback), -EKEYEXPIRED (expired), -EHOSTUNREACH (no mirror
 * answered), -EIO (the manifest could not be fetched), -ECANCELED
 * (stopping), -EDEADLK (@wait on the loop thread).  A poll already running
 * when this is called is followed by a new one, whose outcome counts.
 */
int pc_net_refresh(struct pc_net *net, bool wait, uint64_t timeout_ms);

/*
 * Holds version switches (installs, rollback, unpin) for a restart that
 * pauses the FUSE workers: a switch's kernel invalidations would block
 * the loop thread until the workers serve again (switch_hold.c).  Waits
 * (never on the loop thread) until the switches already running have
 * ended, hook included: 0, or -EBUSY after @timeout_ms (not held then).
 * Meanwhile an install whose manifest arrives waits, and a rollback or
 * unpin is refused.  Released by pc_net_release_switches() (what waited
 * goes on) or by pc_net_stop().  Any thread.
 */
int pc_net_hold_switches(struct pc_net *net, int timeout_ms);
void pc_net_release_switches(struct pc_net *net);

enum pc_net_state {
	PC_STATE_STARTING,   /* no successful poll yet */
	PC_STATE_UP_TO_DATE, /* last poll ok, head not expired */
	PC_STATE_STALE,	     /* current head expired, nothing newer accepted */
	PC_STATE_FAILING,    /* last poll failed (see last_error); also:
				readers' fetches failed lately, or no mirror
				is healthy (the control socket's status) */
	PC_STATE_DEGRADED,   /* up to date, but a mirror is demoted (slow,
				wrong bytes): the control socket's status */
};

struct pc_net_status {
	enum pc_net_state state;
	int64_t last_poll;	  /* unix time of the last poll attempt */
	int64_t last_poll_ok;	  /* unix time of the last successful poll */
	char last_error[512];	  /* "" if none */
	char source[512];	  /* mirror URL last used successfully */
	uint64_t installing;	  /* version whose manifest is fetched or
				 installed now; 0: none */
	int64_t installing_since; /* unix time */
};
void pc_net_status(struct pc_net *net, struct pc_net_status *out);
const char *pc_net_state_name(enum pc_net_state state); /* "up_to_date".. */

/* ---- several repositories -------------------------------------------------- */

/*
 * One repository the net serves: its store handle, keyring, mirrors (and
 * their health), head poller, status and version_switched hook.  The
 * rest is host-wide: the loop, the fetch table (single flight by hash),
 * the peers, discovery, the peer server, the control socket, metrics.
 * Owned by the net; valid until pc_net_free().
 */
struct pc_net_repo;

/*
 * pc_net_new() serves cfg->repos[0] from its @store with its @ring and
 * @hooks: the "first repository".  Its handle is also the one host-wide
 * code uses for chunk calls (every handle shares the chunk store); a
 * peer's GET /head and mirror_serve serve its head only.  More are added
 * before pc_net_start(): cfg->repos[@index], its store handle
 * (pc_store_open_repo on the same cache), its keyring, its hooks
 * (version_switched only: restart stays host-wide, the first
 * repository's hooks.restart).  @store, @ring and @hooks->arg are
 * borrowed and must outlive the net.  NULL with @err set: index out of
 * range or added already, started already, a bad mirror URL, more than
 * 63 mirrors in all repositories; the net is then to be freed.
 */
struct pc_net_repo *pc_net_add_repo(struct pc_net *net, size_t index,
				    struct pc_store *store,
				    const struct pc_keyring *ring,
				    const struct pc_net_hooks *hooks, char *err,
				    size_t errlen);
/* The repository pc_net_new() serves (cfg->repos[0]).  Never NULL. */
struct pc_net_repo *pc_net_first_repo(struct pc_net *net);

/*
 * The repository's entry points, as their pc_net_* counterparts above
 * (which act on the first repository).  A fetch chooses the repository's
 * mirrors; two repositories wanting one hash share one download.
 */
int pc_net_repo_fetch(struct pc_net_repo *repo, const struct pc_chunk_ref *ref,
		      pc_fetch_done done, void *arg);
/* @flags of pc_net_repo_fetch_data: a hint from a reader that jumped
 * (fs/read.c: jumped()), which will come back for the rest of the chunk
 * in any order: the chunk's file is written through the page cache, and
 * not kept among the recent chunks (chunk_rx.c), if its download has not
 * handed its first bytes to a worker yet.  What is verified and what
 * readers get do not change. */
#define PC_FETCH_RANDOM 1u
int pc_net_repo_fetch_data(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *ref, unsigned flags,
			   pc_fetch_data_done done, void *arg);
void pc_net_repo_prefetch(struct pc_net_repo *repo,
			  const struct pc_chunk_ref *refs, size_t count);
void pc_net_repo_lookahead(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *refs, size_t count);
int pc_net_repo_refresh(struct pc_net_repo *repo, bool wait,
			uint64_t timeout_ms);
void pc_net_repo_status(struct pc_net_repo *repo, struct pc_net_status *out);
/* pc_net_hold_switches / pc_net_release_switches are host-wide: they hold
 * every repository's switches. */

#endif /* PC_NET_H */
