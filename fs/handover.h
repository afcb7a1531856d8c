/*
 * handover.h - restart without unmount: what a running mount hands to the
 * next process (state.c), systemd's fd store (fdstore.c), and the
 * takeover by a new binary (takeover.c), a crash loop broken (resume.c).
 * One of fs/'s public headers (with pc_fs.h, mounts.h and exe_path.h):
 * what daemon/ wires a restart without unmount from.
 */
#ifndef PC_FS_HANDOVER_H
#define PC_FS_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handles.h"

struct pc_fs;
struct pc_store;

/* ---- state.c: the state of a mount, for the next process ------------------ */

/* What a new process needs besides the /dev/fuse fd to serve the mount:
 * where it is and which one (its device), the inode generation of the
 * cache index, and the INIT exchange. */
struct pc_fs_state {
	uint32_t generation;
	/* An OFFER's: the old process sends GO within this many seconds of
	 * READY (it may drain reads first); 0 if it did not say (an older
	 * build, or the fd store). */
	uint32_t go_within_s;
	uint32_t dev_major, dev_minor;
	char *mountpoint;
	void *init_req, *init_reply;
	size_t init_req_len, init_reply_len;
};

/* The state of @fs's mount (its INIT must have happened): 0, or -EAGAIN
 * before INIT, -ENODEV if the mount's device is unknown (not found in
 * mountinfo at mount time), -ENOMEM. */
int pc_fs_state_get(struct pc_fs *fs, struct pc_fs_state *out);
void pc_fs_state_free(struct pc_fs_state *st);
/* The bytes that carry it (a versioned format; caller frees). */
int pc_fs_state_encode(const struct pc_fs_state *st, void **buf, size_t *len);
/* 0, or -EPROTO with why in @err (damaged, another format version). */
int pc_fs_state_decode(const void *buf, size_t len, struct pc_fs_state *out,
		       char *err, size_t errlen);
/* ---- fdstore.c: systemd's fd store ---------------------------------------- */

/* Under systemd ($NOTIFY_SOCKET), keeps the /dev/fuse fd and the state
 * (a sealed memfd) in the service's fd store, replacing what was there;
 * otherwise nothing.  Logs a failure; the mount serves either way. */
void pc_fs_fdstore_save(int fuse_fd, const struct pc_fs_state *st);
/* At start: the fd and state a previous process stored (systemd passes
 * them as LISTEN_FDS).  1 with *@fuse_fd (caller owns) and @st filled, 0
 * if there are none, or -EPROTO with why in @err (the fds are closed and
 * dropped from the store). */
int pc_fs_fdstore_take(int *fuse_fd, struct pc_fs_state *st, char *err,
		       size_t errlen);
/* A clean stop: the store forgets both (the mount goes away). */
void pc_fs_fdstore_forget(void);

/* ---- resume.c: a crash loop broken -------------------------------------------- */

/* A daemon that resumes a stored mount after a crash, before the kernel
 * queues the dead one's requests again: counts this resume in
 * CACHE_DIR/resumes, and fails the requeued requests after too many in a
 * row.  0 or -ENOMEM. */
int pc_fs_resume_start(struct pc_fs *fs, const char *cache_dir);
/* A fresh mount: the count starts over. */
void pc_fs_resume_forget(const char *cache_dir);

/* ---- fs.c: serving a mount another process made ----------------------------- */

/*
 * Serves the mount at @mountpoint through @fd (/dev/fuse, which this
 * takes: closed on failure), as @st describes it: the same mount point
 * and device, a live connection, and this build's libfuse answering the
 * recorded INIT with the same bytes.  With @need_resend, also a kernel
 * that can queue requests again (a crashed process left some read).  0,
 * or a negative errno with why in @err.
 */
int pc_fs_adopt(struct pc_fs *fs, const char *mountpoint, int fd,
		const struct pc_fs_state *st, bool need_resend, char *err,
		size_t errlen);
/* Before the store closes for a takeover: nothing in fs uses it after
 * (the repliers stop, open files let their pins go).  Attaching it again
 * (the takeover failed) undoes that: 0 or a negative errno. */
void pc_fs_detach_store(struct pc_fs *fs);
int pc_fs_attach_store(struct pc_fs *fs, struct pc_store *store);
/* The kernel queues again what was read from the device and not answered
 * (FUSE_NOTIFY_RESEND), and it is logged.  Before the request loop. */
void pc_fs_requeue(struct pc_fs *fs);

/* ---- takeover.c: a new binary takes the mount over ------------------------ */

/* How to start the next process: the binary's absolute path as the
 * daemon was started (exe_path.c; the file at that path is started, so an
 * upgrade that replaced it is what runs), or NULL and @exe_why; the same
 * arguments, the working directory they were given in, and the version
 * of this build.  Borrowed; they outlive @fs. */
void pc_fs_set_command(struct pc_fs *fs, const char *exe, const char *exe_why,
		       char *const *argv, const char *cwd, const char *version);
/* Starts the thread that serves restart requests and stop signals
 * (SIGTERM, SIGINT, SIGHUP end the loop).  Once started, a stop signal
 * that comes before pc_fs_run() makes it return at once: called before
 * the mount, no signal leaves it dead.  Again (pc_fs_run() calls it):
 * nothing.  0 or a negative errno. */
int pc_fs_control_start(struct pc_fs *fs);
void pc_fs_control_stop(struct pc_fs *fs);
/* A restart request (the control socket's "restart", loop thread): the
 * answer, one JSON line, goes to @client_fd, which this takes over. */
void pc_fs_restart_request(struct pc_fs *fs, int client_fd);

/* After pc_fs_run() ended handing over (a new process is ready):
 * the caller has stopped the net and closed the store; this hands the
 * mount over.  0: the new process serves (exit without unmounting; a stop
 * signal that comes meanwhile is passed on to it).  -ECANCELED: a stop
 * signal came since the pause, nothing was handed over, and the caller
 * stops (unmounts).  -ECHILD: the new process failed; the caller opens
 * the store and starts the net again, then calls
 * pc_fs_restart_resume(). */
int pc_fs_restart_finish(struct pc_fs *fs);
/* Serves again after a failed takeover (requests left to the new process
 * are queued again) and answers the restart request. */
void pc_fs_restart_resume(struct pc_fs *fs);
/* True once SIGTERM (or SIGINT, SIGHUP) asked the daemon to stop. */
bool pc_fs_stop_requested(struct pc_fs *fs);

/* The new process's side.  The channel from $PEERCACHE_TAKEOVER_FD (the
 * variable is removed), or -1 when started otherwise. */
int pc_fs_takeover_channel(void);
/* Takes the mount's fd and state from the old process and checks that
 * this build can serve it (pc_fs_adopt); -errno with why in @err, which
 * the old process is told. */
int pc_fs_takeover_accept(struct pc_fs *fs, int chan, const char *mountpoint,
			  char *err, size_t errlen);
/* Ready: waits (bounded) until the old process has let go, with the
 * generation the store must have.  0, or -ECONNRESET if it gave up. */
int pc_fs_takeover_ready(struct pc_fs *fs, uint32_t *generation);
/* With the store open and before the net starts (a purge or a prefetch
 * must not come first): the old process's open files are opened again
 * here, and their chunks pinned as they were. */
void pc_fs_takeover_adopt(struct pc_fs *fs);
/* Serving now (@error NULL), or failed with @error: the old process goes
 * on.  Closes the channel. */
void pc_fs_takeover_done(struct pc_fs *fs, const char *error);

#endif /* PC_FS_HANDOVER_H */
