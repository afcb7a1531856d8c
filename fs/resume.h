/*
 * resume.h - a crash loop fed by requeued requests, broken (resume.c).
 * fs/ only (but for the two calls in handover.h).
 */
#ifndef PC_FS_RESUME_H
#define PC_FS_RESUME_H

#include <stddef.h>

#include "handover.h"

struct pc_fs;

/* What devio does with a request it read. */
enum fs_resume_verdict {
	RESUME_PROCESS,	 /* hand it to libfuse */
	RESUME_REQUEUED, /* the same, and tell fs_resume_done() after */
	RESUME_ANSWERED, /* answered here (EIO): read the next one */
};

/* pc_fs_resume_start() and pc_fs_resume_forget(), which the daemon
 * calls, are in handover.h. */
void fs_resume_free(struct pc_fs *fs);

/* devio.c, on a FUSE worker, for every request read (also test hooks). */
enum fs_resume_verdict fs_resume_request(struct pc_fs *fs, int fd,
					 const void *buf, size_t n);
/* The worker that got RESUME_REQUEUED is back for its next request. */
void fs_resume_done(struct pc_fs *fs);

#endif /* PC_FS_RESUME_H */
