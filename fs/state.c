/*
 * state.c - the state of a mount that a new process needs to serve it,
 * and the bytes that carry it: over the takeover channel (takeover.c) and
 * in systemd's fd store (fdstore.c, a memfd next to the /dev/fuse fd).
 *
 * Little of it: the inode map and versions are in LMDB already, and the
 * file handles are adopted on first use (handles.c).  What is left is the
 * INIT exchange (the new libfuse session must start where the kernel's
 * connection is), the mount point and its device (so that a stored fd is
 * only ever used for the mount it belongs to), and the generation of the
 * cache index (inode numbers mean the same only in the same index).
 *
 * Format 1: a fixed header (magic "pcstate", format, generation, device,
 * lengths, and in an OFFER how long the old process may take to send GO;
 * host byte order: the reader is the same machine), then the INIT
 * request, the INIT reply and the mount point.  A reader refuses any other
 * format rather than guess, and an INIT exchange that is not whole (libfuse
 * reads as much of it as the request's flags say).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devio.h"
#include "handover.h"
#include "internal.h"

#define STATE_MAGIC "pcstate"
#define STATE_FORMAT 1
#define STATE_FIELD_MAX 4096 /* INIT request or reply, mount point */

struct state_header {
	char magic[8];
	uint32_t format;
	uint32_t generation;
	uint32_t dev_major, dev_minor;
	uint32_t init_req_len, init_reply_len, mountpoint_len;
	/* Was "reserved" (0) in the first builds, which read no further: */
	uint32_t go_within_s; /* an OFFER's: GO comes within this */
};

void pc_fs_state_free(struct pc_fs_state *st)
{
	free(st->mountpoint);
	free(st->init_req);
	free(st->init_reply);
	memset(st, 0, sizeof(*st));
}

static void *copy_of(const void *bytes, size_t len)
{
	void *copy = malloc(len ? len : 1);

	if (copy && len)
		memcpy(copy, bytes, len);
	return copy;
}

int pc_fs_state_get(struct pc_fs *fs, struct pc_fs_state *out)
{
	const void *req, *reply;
	size_t req_len, reply_len;

	memset(out, 0, sizeof(*out));
	if (!fs_devio_init(fs, &req, &req_len, &reply, &reply_len))
		return -EAGAIN;
	/* Without its device a stored fd could not be told from another
	 * mount's: no state rather than one that can never be checked. */
	if (fs->dev_major == 0 && fs->dev_minor == 0)
		return -ENODEV;
	out->generation = pc_store_generation(fs->store);
	out->dev_major = fs->dev_major;
	out->dev_minor = fs->dev_minor;
	out->mountpoint = strdup(fs->mountpoint);
	out->init_req = copy_of(req, req_len);
	out->init_reply = copy_of(reply, reply_len);
	out->init_req_len = req_len;
	out->init_reply_len = reply_len;
	if (!out->mountpoint || !out->init_req || !out->init_reply) {
		pc_fs_state_free(out);
		return -ENOMEM;
	}
	return 0;
}

int pc_fs_state_encode(const struct pc_fs_state *st, void **buf, size_t *len)
{
	size_t mp_len = strlen(st->mountpoint);
	struct state_header h = {
		.magic = STATE_MAGIC,
		.format = STATE_FORMAT,
		.generation = st->generation,
		.dev_major = st->dev_major,
		.dev_minor = st->dev_minor,
		.init_req_len = (uint32_t)st->init_req_len,
		.init_reply_len = (uint32_t)st->init_reply_len,
		.mountpoint_len = (uint32_t)mp_len,
		.go_within_s = st->go_within_s,
	};
	size_t total =
		sizeof(h) + st->init_req_len + st->init_reply_len + mp_len;
	char *out = malloc(total);

	if (!out)
		return -ENOMEM;
	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), st->init_req, st->init_req_len);
	memcpy(out + sizeof(h) + st->init_req_len, st->init_reply,
	       st->init_reply_len);
	memcpy(out + total - mp_len, st->mountpoint, mp_len);
	*buf = out;
	*len = total;
	return 0;
}

int pc_fs_state_decode(const void *buf, size_t len, struct pc_fs_state *out,
		       char *err, size_t errlen)
{
	const char *bytes = buf;
	struct state_header h;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h)) {
		snprintf(err, errlen, "the mount's state is truncated");
		return -EPROTO;
	}
	memcpy(&h, bytes, sizeof(h));
	if (memcmp(h.magic, STATE_MAGIC, sizeof(h.magic)) != 0 ||
	    h.format != STATE_FORMAT) {
		snprintf(err, errlen,
			 "the mount's state has format %u; this build reads "
			 "format %d",
			 memcmp(h.magic, STATE_MAGIC, 8) ? 0 : h.format,
			 STATE_FORMAT);
		return -EPROTO;
	}
	if (h.init_req_len > STATE_FIELD_MAX ||
	    h.init_reply_len > STATE_FIELD_MAX ||
	    h.mountpoint_len > STATE_FIELD_MAX ||
	    len != sizeof(h) + h.init_req_len + h.init_reply_len +
			    h.mountpoint_len ||
	    !fs_init_sane(bytes + sizeof(h), h.init_req_len,
			  bytes + sizeof(h) + h.init_req_len,
			  h.init_reply_len)) {
		snprintf(err, errlen, "the mount's state is damaged");
		return -EPROTO;
	}
	bytes += sizeof(h);
	out->generation = h.generation;
	out->go_within_s = h.go_within_s;
	out->dev_major = h.dev_major;
	out->dev_minor = h.dev_minor;
	out->init_req = copy_of(bytes, h.init_req_len);
	out->init_reply = copy_of(bytes + h.init_req_len, h.init_reply_len);
	out->mountpoint = strndup(bytes + h.init_req_len + h.init_reply_len,
				  h.mountpoint_len);
	out->init_req_len = h.init_req_len;
	out->init_reply_len = h.init_reply_len;
	if (!out->init_req || !out->init_reply || !out->mountpoint) {
		pc_fs_state_free(out);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
