/*
 * takeover.h - shared by the two sides of a takeover: the old process
 * (takeover.c) and the new one with the channel's messages
 * (takeover_new.c).  fs/ only.
 */
#ifndef PC_FS_TAKEOVER_H
#define PC_FS_TAKEOVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handles.h"
#include "pc_fs.h"

#define TAKEOVER_ENV "PEERCACHE_TAKEOVER_FD"
#define TAKEOVER_MSG_MAX (256 * 1024)
/* The most open files a GO carries (the others are adopted on first use,
 * and the new process cannot know that all were listed). */
#define REFS_MAX ((TAKEOVER_MSG_MAX - 64) / sizeof(struct fs_handle_ref))

/* One message each way at a time, on a SOCK_SEQPACKET socketpair: a type
 * byte, then the payload. */
enum msg_type {
	MSG_OFFER = 1, /* old → new: the state; the /dev/fuse fd */
	MSG_READY,     /* new → old: struct msg_ready */
	MSG_REFUSE,    /* new → old: why (text) */
	MSG_GO,	       /* old → new: struct fs_handle_ref[] */
	MSG_SERVING,   /* new → old: struct msg_serving */
	MSG_FAILED,    /* new → old: why (text) */
};

struct msg_ready {
	int32_t pid;
	char version[60];
};

/* When the new process got GO and when it served (CLOCK_MONOTONIC, ns:
 * one clock for the whole machine). */
struct msg_serving {
	int64_t go_ns;
	int64_t serving_ns;
};

struct fs_restart {
	/* How to start the next process; set before the thread starts. */
	const char *exe, *exe_why, *cwd, *version;
	char *const *argv;

	int wake[2]; /* the control thread's pipe: 'T'erm, 'R'estart, 'Q'uit */
	pthread_t thread;
	atomic_bool running;
	bool quit; /* the control thread's own: 'Q' came during a restart */
	pthread_mutex_t lock;
	int queued;	  /* a request's client fd, or -1; lock */
	bool busy;	  /* a restart is under way; lock */
	atomic_bool stop; /* a signal (or pc_fs_stop) asked to stop */
	/* Set before the loop (pc_fs_set_sessions), read-only then: why a
	 * restart is refused at once, or NULL. */
	const char *refusal;
	char refusal_text[160];
	/* The session a stop ends: published by fs_control_publish() once
	 * it is set up (the control thread runs before a takeover's new
	 * process has adopted its session). */
	_Atomic(struct fuse_session *) session;
	atomic_bool handing_over; /* the loop ended for a takeover */
	atomic_bool loop_running; /* pc_fs_run's loop serves: restarts wait */
	/* From the pause until this process serves again (never, once
	 * handed over): the kernel must not be sent invalidations, which
	 * would wait for the paused workers.  Any thread reads it. */
	atomic_bool quiesced;

	/* The takeover under way: the control thread, then the main thread
	 * once the loop has ended. */
	int client;
	pid_t child;
	pid_t forward_to; /* the new process, once it serves (main thread) */
	int chan;
	int64_t paused_ns; /* the workers stopped reading */
	int64_t go_ns;	   /* GO sent: the net and the store are closed */
	struct msg_serving serving;
	struct msg_ready ready;
	char error[512];

	struct pc_fs_test_hooks test; /* set before the loop; read-only */
	struct fs_resume *resume; /* resume.c: set before the loop, or NULL */

	/* The new process's side. */
	uint32_t generation;
	int go_timeout_ms; /* from the OFFER (fs_go_timeout_ms) */
	int64_t go_received_ns;
	struct fs_handle_ref *refs;
	size_t nrefs;

	char buf[TAKEOVER_MSG_MAX + 1]; /* a message received */
};

/* channel.c: sends one message (with @pass_fd if >= 0).  0 or a negative
 * errno. */
int takeover_send(int chan, uint8_t type, const void *payload, size_t len,
		  int pass_fd);
/* Waits up to @timeout_ms for one message into @buf (TAKEOVER_MSG_MAX + 1
 * bytes, NUL-terminated): its type, with its length in *@len and a passed
 * fd in *@fd (-1 if none).  -ETIMEDOUT, -ECONNRESET (the other side
 * closed or died), or -EINTR if @wake_fd (-1: none) became readable
 * first. */
int takeover_recv(int chan, int timeout_ms, int wake_fd, char *buf, size_t *len,
		  int *fd);
struct pc_fs_state;
/* How long the new process waits for GO after READY: what the OFFER's
 * state says the old process may take, or 120 s if it says nothing. */
int fs_go_timeout_ms(const struct pc_fs_state *st);
/* True while the request loop ends for a takeover (pc_fs_run). */
bool fs_handing_over(struct pc_fs *fs);
/* pc_fs_run: its request loop begins (true) or has ended. */
void fs_loop_running(struct pc_fs *fs, bool running);
/* True from a takeover's pause until this process serves again. */
bool fs_quiesced(struct pc_fs *fs);
/* fs->restart, made on first use; NULL without memory. */
struct fs_restart *takeover_state(struct pc_fs *fs);
/* Main thread, once the session is set up (pc_fs_run): a stop signal
 * may end it from now on (the control thread's wake-up). */
void fs_control_publish(struct pc_fs *fs);

#endif /* PC_FS_TAKEOVER_H */
