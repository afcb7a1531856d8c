/*
 * unmount_spy.c - libpc-unmount-spy.so, LD_PRELOADed into the daemon by
 * restart/test_handover_exit.sh: each call of libfuse's
 * fuse_session_mount() and fuse_session_unmount() is written, with the
 * caller's pid, to $PC_UNMOUNT_SPY_LOG, then passed on to libfuse.  A
 * daemon that handed its mount over must call neither: libfuse's unmount
 * path would take away the mount the new process serves, or rely on what
 * libfuse happens to do today.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct fuse_session;

int fuse_session_mount(struct fuse_session *se, const char *mountpoint);
void fuse_session_unmount(struct fuse_session *se);

static void note(const char *what, const char *arg)
{
	const char *path = getenv("PC_UNMOUNT_SPY_LOG");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dprintf(fd, "%d %s %s\n", (int)getpid(), what, arg ? arg : "");
	close(fd);
}

int fuse_session_mount(struct fuse_session *se, const char *mountpoint)
{
	int (*real)(struct fuse_session *, const char *) =
		(int (*)(struct fuse_session *, const char *))dlsym(
			RTLD_NEXT, "fuse_session_mount");

	note("mount", mountpoint);
	return real(se, mountpoint);
}

void fuse_session_unmount(struct fuse_session *se)
{
	void (*real)(struct fuse_session *) =
		(void (*)(struct fuse_session *))dlsym(RTLD_NEXT, "fuse_"
								  "session_"
								  "unmount");

	note("unmount", NULL);
	real(se);
}
