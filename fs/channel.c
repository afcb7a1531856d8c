/*
 * channel.c - the takeover's channel: one message at a time each way on a
 * SOCK_SEQPACKET socketpair between the old process and the new one
 * (takeover.c, takeover_new.c), a type byte then the payload, with at
 * most one fd passed (SCM_RIGHTS).  A sequenced-packet socket keeps
 * message boundaries, so a message is one send and one receive, and the
 * other side closing (or dying) reads as the end of the stream.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pc_util.h"
#include "takeover.h"

int takeover_send(int chan, uint8_t type, const void *payload, size_t len,
		  int pass_fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov[2] = { { .iov_base = &type, .iov_len = 1 },
				{ .iov_base = (void *)payload,
				  .iov_len = len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct cmsghdr *cmsg;

	if (pass_fd >= 0) {
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
	}
	if (sendmsg(chan, &msg, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int takeover_recv(int chan, int timeout_ms, int wake_fd, char *buf, size_t *len,
		  int *fd)
{
	struct pollfd pfd[2] = { { .fd = chan, .events = POLLIN },
				 { .fd = wake_fd, .events = POLLIN } };
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = TAKEOVER_MSG_MAX };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *cmsg;
	int64_t deadline = pc_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	ssize_t n;
	int rc, type;

	*fd = -1;
	do
		rc = poll(pfd, wake_fd >= 0 ? 2 : 1,
			  (int)((deadline - pc_monotonic_ns()) / 1000000) + 1);
	while (rc < 0 && errno == EINTR && pc_monotonic_ns() < deadline);
	if (rc <= 0)
		return -ETIMEDOUT;
	if (wake_fd >= 0 && (pfd[1].revents & POLLIN))
		return -EINTR;
	n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -errno;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_level == SOL_SOCKET &&
	    cmsg->cmsg_type == SCM_RIGHTS &&
	    cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
	type = (unsigned char)buf[0];
	*len = (size_t)n - 1;
	memmove(buf, buf + 1, *len);
	buf[*len] = '\0';
	return type;
}
