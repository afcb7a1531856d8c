/*
 * takeover_new.c - the new process's side of a takeover (takeover.c has
 * the old one's and the whole story), and the channel's messages.
 *
 * Started with $PEERCACHE_TAKEOVER_FD, the new process loads its config
 * and keys, then takes the /dev/fuse fd and the mount's state from the
 * OFFER and checks that it can serve them: the same mount on the same
 * mount point, and libfuse answering the recorded INIT request with the
 * very bytes the kernel got (pc_fs_adopt).  A difference is a REFUSE with
 * the reason, and the old process goes on.  After GO it opens the store,
 * adopts the open files the old process had (so that their chunks are
 * pinned again before its net can purge or prefetch), starts its net
 * (daemon.c), has the kernel queue again the requests left to it
 * (FUSE_NOTIFY_RESEND), and says SERVING.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devio.h"
#include "handover.h"
#include "internal.h"
#include "pc_util.h"
#include "takeover.h"

#define OFFER_TIMEOUT_MS 30000
#define GO_TIMEOUT_MS 120000	 /* the old process's pause and shutdown */
#define MAINPID_TIMEOUT_MS 10000 /* its MAINPID= and systemd's barrier */

/* ---- the new process ------------------------------------------------------- */

int pc_fs_takeover_channel(void)
{
	const char *value = getenv(TAKEOVER_ENV);
	char *end;
	long fd;

	if (!value)
		return -1;
	fd = strtol(value, &end, 10);
	unsetenv(TAKEOVER_ENV); /* not for this process's own successor */
	if (*end || end == value || fd < 3 || fd > 1024 ||
	    fcntl((int)fd, F_GETFD) < 0) {
		fprintf(stderr,
			"peercache: %s=%s is not an open fd; starting "
			"as usual\n",
			TAKEOVER_ENV, value);
		return -1;
	}
	fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return (int)fd;
}

int fs_go_timeout_ms(const struct pc_fs_state *st)
{
	if (!st->go_within_s)
		return GO_TIMEOUT_MS;
	/* A bound that fits an int, and a margin for this side's clock. */
	return (int)(st->go_within_s < 86400 ? st->go_within_s : 86400) * 1000 +
	       10000;
}

/* The OFFER: the fd and the decoded state.  0 or -EPROTO with why. */
static int take_offer(struct fs_restart *r, int *fd, struct pc_fs_state *st,
		      char *err, size_t errlen)
{
	size_t len = 0;
	int type;

	type = takeover_recv(r->chan, OFFER_TIMEOUT_MS, -1, r->buf, &len, fd);
	if (type != MSG_OFFER || *fd < 0) {
		snprintf(err, errlen, "no offer from the old process (%s)",
			 type < 0 ? strerror(-type) : "another message");
		return -EPROTO;
	}
	return pc_fs_state_decode(r->buf, len, st, err, errlen);
}

int pc_fs_takeover_accept(struct pc_fs *fs, int chan, const char *mountpoint,
			  char *err, size_t errlen)
{
	struct fs_restart *r = takeover_state(fs);
	struct pc_fs_state st = { 0 };
	int fd = -1, rc;

	if (!r) {
		close(chan);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->chan = chan;
	rc = take_offer(r, &fd, &st, err, errlen);
	if (rc == 0) {
		r->generation = st.generation;
		r->go_timeout_ms = fs_go_timeout_ms(&st);
		rc = pc_fs_adopt(fs, mountpoint, fd, &st, false, err, errlen);
		fd = -1; /* the session's now, or closed */
		/* The old process's until SERVING: never unmounted here. */
		fs->handed_over = true;
	}
	pc_fs_state_free(&st);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		takeover_send(r->chan, MSG_REFUSE, err, strlen(err), -1);
	return rc;
}

int pc_fs_takeover_ready(struct pc_fs *fs, uint32_t *generation)
{
	struct fs_restart *r = fs->restart;
	struct msg_ready ready = { .pid = (int32_t)getpid() };
	size_t len = 0;
	int type, fd = -1;

	snprintf(ready.version, sizeof(ready.version), "%s",
		 r->version ? r->version : "?");
	type = takeover_send(r->chan, MSG_READY, &ready, sizeof(ready), -1);
	if (type == 0)
		type = takeover_recv(r->chan, r->go_timeout_ms, -1, r->buf,
				     &len, &fd);
	if (fd >= 0)
		close(fd);
	if (type != MSG_GO || len % sizeof(struct fs_handle_ref) != 0)
		return -ECONNRESET;
	r->go_received_ns = pc_monotonic_ns();
	r->nrefs = len / sizeof(struct fs_handle_ref);
	r->refs = malloc(len ? len : 1);
	if (r->refs)
		memcpy(r->refs, r->buf, len);
	else
		r->nrefs = 0; /* adopted on first use instead */
	*generation = r->generation;
	return 0;
}

/*
 * After SERVING: the old process closes the channel once systemd has
 * taken this process for the service's main one (MAINPID=, then a
 * barrier).  Until then systemd would refuse this process's own
 * notifications (NotifyAccess=main in the unit): STATUS= and READY=1 wait
 * for that.
 */
static void wait_main(struct fs_restart *r)
{
	size_t len = 0;
	int type, fd = -1;

	type = takeover_recv(r->chan, MAINPID_TIMEOUT_MS, -1, r->buf, &len,
			     &fd);
	if (fd >= 0)
		close(fd);
	if (type != -ECONNRESET)
		pc_log(PC_LOG_WARN, "fs",
		       "restart: the old process did not let go within %d s "
		       "(%s); systemd may not know this process yet",
		       MAINPID_TIMEOUT_MS / 1000,
		       type < 0 ? strerror(-type) : "a message");
}

void pc_fs_takeover_adopt(struct pc_fs *fs)
{
	struct fs_restart *r = fs->restart;

	/* A whole list: a held record that none of these holds is a closed
	 * file's.  A list cut short (or none): those age out instead. */
	pc_store_held_exact(fs->store, r->refs && r->nrefs < REFS_MAX);
	fs_files_adopt(fs, r->refs, r->nrefs);
	free(r->refs);
	r->refs = NULL;
	r->nrefs = 0;
}

void pc_fs_takeover_done(struct pc_fs *fs, const char *error)
{
	struct fs_restart *r = fs->restart;
	struct msg_serving serving;

	if (error) {
		takeover_send(r->chan, MSG_FAILED, error, strlen(error), -1);
	} else {
		fs->handed_over = false; /* ours now */
		pc_fs_requeue(fs);
		serving.go_ns = r->go_received_ns;
		serving.serving_ns = pc_monotonic_ns();
		if (takeover_send(r->chan, MSG_SERVING, &serving,
				  sizeof(serving), -1) == 0)
			wait_main(r);
	}
	close(r->chan);
	r->chan = -1;
	free(r->refs);
	r->refs = NULL;
	r->nrefs = 0;
}
