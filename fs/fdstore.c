/*
 * fdstore.c - the mount kept in systemd's file descriptor store, so that a
 * daemon that crashed comes back on the same mount.
 *
 * Once the kernel's INIT is answered, the daemon gives systemd the
 * /dev/fuse fd and the mount's state (state.c) in a sealed memfd
 * (FDSTORE=1, FileDescriptorStoreMax= in the unit).  systemd holds the
 * same open file, so the kernel keeps the connection and its requests
 * when the daemon dies, even those the daemon had read and not answered:
 * the next daemon, started by Restart=on-failure, finds both among its
 * LISTEN_FDS, checks that they belong to the mount on its mount point,
 * serves the fd, and has the kernel queue those requests again
 * (FUSE_NOTIFY_RESEND).  Readers see a pause.
 *
 * What comes back is checked before it is trusted: the fd under our fuse
 * name must be /dev/fuse, the state's memfd sealed, the state whole, and
 * the mount it names the one on our mount point (fs.c, daemon.c).
 *
 * systemd drops a stored fd that reports POLLERR or POLLHUP, which
 * /dev/fuse does once the mount is gone; a clean stop also says so
 * (FDSTOREREMOVE).  Without $NOTIFY_SOCKET every call here does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "handover.h"

#define NAME_FUSE "peercache-fuse"
#define NAME_STATE "peercache-state"
#define STATE_READ_MAX (64 * 1024)
#define FUSE_DEV_MAJOR 10 /* /dev/fuse: misc device 229 */
#define FUSE_DEV_MINOR 229

/* The state's bytes in a sealed memfd; -errno. */
static int state_memfd(const struct pc_fs_state *st)
{
	void *bytes;
	size_t len;
	int fd, rc;

	rc = pc_fs_state_encode(st, &bytes, &len);
	if (rc < 0)
		return rc;
	fd = memfd_create(NAME_STATE, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, bytes, len) != (ssize_t)len ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
		    0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		free(bytes);
		return rc;
	}
	free(bytes);
	return fd;
}

void pc_fs_fdstore_forget(void)
{
	/* sd_notify() does nothing (0) without $NOTIFY_SOCKET. */
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" NAME_FUSE);
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" NAME_STATE);
}

void pc_fs_fdstore_save(int fuse_fd, const struct pc_fs_state *st)
{
	int state_fd, rc;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	state_fd = state_memfd(st);
	if (state_fd < 0) {
		fprintf(stderr,
			"peercache: cannot keep the mount's state for a "
			"restart: %s\n",
			strerror(-state_fd));
		return;
	}
	pc_fs_fdstore_forget(); /* an earlier mount's, if any */
	rc = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" NAME_FUSE,
				    &fuse_fd, 1);
	if (rc > 0)
		rc = sd_pid_notify_with_fds(
			0, 0, "FDSTORE=1\nFDNAME=" NAME_STATE, &state_fd, 1);
	if (rc <= 0)
		fprintf(stderr,
			"peercache: systemd did not take the mount's fd "
			"(FileDescriptorStoreMax= in the unit?): %s; a crash "
			"will take the mount with it\n",
			rc < 0 ? strerror(-rc) : "no notification socket");
	else
		fprintf(stderr, "peercache: the mount's fd is in systemd's "
				"fd store\n");
	close(state_fd);
}

/* The whole memfd @fd into a buffer (caller frees); -errno. */
static int read_state(int fd, void **out, size_t *len)
{
	struct stat st;
	char *buf;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || st.st_size > STATE_READ_MAX)
		return -EPROTO;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

/* Which of the passed fds are ours; the others are closed. */
static void sort_fds(int n, char **names, int *fuse_fd, int *state_fd)
{
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (names && names[i] && strcmp(names[i], NAME_FUSE) == 0 &&
		    *fuse_fd < 0)
			*fuse_fd = fd;
		else if (names && names[i] &&
			 strcmp(names[i], NAME_STATE) == 0 && *state_fd < 0)
			*state_fd = fd;
		else {
			close(fd);
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

/* What systemd passed under our names is what we stored: @fuse_fd is
 * /dev/fuse (character device 10:229), and @state_fd a memfd sealed
 * against any change, as state_memfd() makes it. */
static int check_kinds(int fuse_fd, int state_fd, char *err, size_t errlen)
{
	const int sealed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	struct stat st;
	int seals;

	if (fstat(fuse_fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    st.st_rdev != makedev(FUSE_DEV_MAJOR, FUSE_DEV_MINOR)) {
		snprintf(err, errlen, "the stored %s is not /dev/fuse",
			 NAME_FUSE);
		return -EPROTO;
	}
	seals = fcntl(state_fd, F_GET_SEALS);
	if (seals < 0 || (seals & sealed) != sealed) {
		snprintf(err, errlen,
			 "the stored %s is not a sealed memfd (seals %#x)",
			 NAME_STATE, seals < 0 ? 0 : seals);
		return -EPROTO;
	}
	return 0;
}

/* The state in @state_fd, checked against the live connection @fuse_fd. */
static int check_stored(int fuse_fd, int state_fd, struct pc_fs_state *st,
			char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = fuse_fd };
	void *bytes = NULL;
	size_t len = 0;
	int rc;

	rc = check_kinds(fuse_fd, state_fd, err, errlen);
	if (rc < 0)
		return rc;
	rc = read_state(state_fd, &bytes, &len);
	if (rc < 0) {
		snprintf(err, errlen, "the stored state is unreadable: %s",
			 strerror(-rc));
		return -EPROTO;
	}
	rc = pc_fs_state_decode(bytes, len, st, err, errlen);
	free(bytes);
	if (rc < 0)
		return rc;
	/* A connection that ended (the mount was taken away) says POLLERR. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR)) {
		pc_fs_state_free(st);
		snprintf(err, errlen, "the stored mount's connection ended");
		return -EPROTO;
	}
	return 0;
}

int pc_fs_fdstore_take(int *fuse_fd, struct pc_fs_state *st, char *err,
		       size_t errlen)
{
	char **names = NULL;
	int n, state_fd = -1, rc;

	*fuse_fd = -1;
	memset(st, 0, sizeof(*st));
	n = sd_listen_fds_with_names(1, &names); /* unsets LISTEN_* */
	if (n <= 0)
		return 0;
	sort_fds(n, names, fuse_fd, &state_fd);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (*fuse_fd < 0 && state_fd < 0)
		return 0;
	rc = -EPROTO;
	if (*fuse_fd < 0 || state_fd < 0)
		snprintf(err, errlen, "systemd passed %s without %s",
			 *fuse_fd < 0 ? NAME_STATE : NAME_FUSE,
			 *fuse_fd < 0 ? NAME_FUSE : NAME_STATE);
	else
		rc = check_stored(*fuse_fd, state_fd, st, err, errlen);
	if (state_fd >= 0)
		close(state_fd);
	if (rc == 0)
		return 1;
	if (*fuse_fd >= 0)
		close(*fuse_fd);
	*fuse_fd = -1;
	pc_fs_fdstore_forget();
	return rc;
}
