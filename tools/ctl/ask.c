/*
 * ask.c - the client side of the control socket (docs/CONTROL.md): one
 * command line out, everything the daemon sends until it closes back.
 * Every wait is bounded by the caller's timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "pc_util.h"

#define REPLY_MAX (1 << 20)

int ctl_request_line(const struct ctl *ctl, const char *command, char *out,
		     size_t len)
{
	int n = ctl->repository ? snprintf(out, len, "repository %s %s",
					   ctl->repository, command)
				: snprintf(out, len, "%s", command);

	/* The daemon reads at most 256 bytes (docs/CONTROL.md). */
	return n < 0 || (size_t)n >= len || n > 256 ? -ENAMETOOLONG : 0;
}

bool ctl_daemon_absent(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED;
}

/* Reads until EOF or @deadline (monotonic seconds) into *@out. */
static int read_reply(int fd, double deadline, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = (int)((deadline - pc_now_monotonic()) * 1000);
		ssize_t n;

		if (wait <= 0 || poll(&pfd, 1, wait) <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (len + 1 == cap) {
			char *grown =
				cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!grown) {
				rc = -EFBIG;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (rc == 0 && len == 0)
		rc = -ECONNRESET;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int ctl_ask(const char *socket_path, const char *command, int timeout_ms,
	    char **reply)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	double deadline = pc_now_monotonic() + timeout_ms / 1000.0;
	char line[128];
	int fd, rc;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	snprintf(line, sizeof(line), "%s\n", command);
	/* MSG_NOSIGNAL: a daemon that refused us may have closed already. */
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) !=
	    (ssize_t)strlen(line)) {
		/* Refused at accept: the daemon's one line says why. */
		rc = read_reply(fd, deadline, reply);
		close(fd);
		return rc == 0 ? 0 : -EIO;
	}
	rc = read_reply(fd, deadline, reply);
	close(fd);
	return rc;
}
