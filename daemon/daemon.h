/*
 * daemon.h - the daemon's life once its configuration is read (daemon.c):
 * for main.c.
 */
#ifndef PC_DAEMON_DAEMON_H
#define PC_DAEMON_DAEMON_H

#include <stdbool.h>

#include "pc_config.h"
#include "pc_fs.h"

struct daemon_args {
	const struct pc_config *cfg;
	const char *mountpoint;
	/* The write end of daemonize()'s pipe, or -1: one byte, 0 once the
	 * mount serves, 1 if it never will (closed either way). */
	int ready_fd;
	/* How to start the next process on a restart (takeover.c): the
	 * binary's absolute path (exe_path.c), or NULL and why not. */
	const char *exe, *exe_why;
	char *const *argv;
	const char *cwd;
	const char *version;
	/* $PEERCACHE_TAKEOVER_FD: this process takes a mount over. */
	int takeover_chan;
	bool foreground; /* -f */
	/* A test build's (peercache-next); NULL in the installed daemon. */
	const struct pc_fs_test_hooks *test_hooks;
};

/* Mounts (or takes over a mount), serves until stopped or handed over,
 * and returns the exit status. */
int daemon_serve(const struct daemon_args *args);

#endif /* PC_DAEMON_DAEMON_H */
