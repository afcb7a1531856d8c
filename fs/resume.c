/*
 * resume.c - a request that kills the daemon must not kill every daemon
 * after it.
 *
 * After a crash the next daemon has the kernel queue again
 * (FUSE_NOTIFY_RESEND) every request the dead one had read and not
 * answered: a reader waiting on the mount gets its answer.  But if one of
 * those requests is what killed the daemon, each successor reads it again
 * and dies the same way, systemd's start limit trips (RestartSec=1s,
 * StartLimitBurst=5 in 10 s by default), systemd closes the stored fd,
 * and the mount dies with it.
 *
 * So each resume is counted in CACHE_DIR/resumes, and the count is
 * cleared once the resumed daemon got past what was queued again: the
 * kernel queues those requests ahead of any new one (each carries
 * FUSE_UNIQUE_RESEND, the top bit of its id), so once a new request has
 * been read and every FUSE worker that took a requeued one has come back
 * for the next (its processing returned; a read that waits on the network
 * is parked and answered later), the daemon has survived them.  After
 * QUARANTINE_AFTER resumes in a row that did not, the next one answers
 * the requeued requests with EIO instead of processing them: one reader
 * gets an error, the mount lives.  A fresh mount (nothing stored) starts
 * the count again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "internal.h"
#include "resume.h"
#include "takeover.h"

#define RESEND_BIT (1ULL << 63) /* FUSE_UNIQUE_RESEND, Linux 6.9 */
#define QUARANTINE_AFTER 2	/* resumes in a row that died */
#define STREAK_FILE "resumes"

struct fs_resume {
	char *path; /* CACHE_DIR/resumes; read-only after start */
	unsigned streak;
	bool quarantine; /* read-only after start */
	atomic_uint resent_read, resent_done, resent_failed;
	atomic_bool fresh_seen, settled;
};

static char *streak_path(const char *cache_dir)
{
	char *path;

	return asprintf(&path, "%s/" STREAK_FILE, cache_dir) < 0 ? NULL : path;
}

/* The count in @path (0 if none). */
static unsigned read_streak(const char *path)
{
	FILE *f = fopen(path, "re");
	unsigned value = 0;

	if (f) {
		if (fscanf(f, "%u", &value) != 1)
			value = 0;
		fclose(f);
	}
	return value;
}

/* @value into @path, whole or not at all (a rename). */
static void write_streak(const char *path, unsigned value)
{
	char tmp[4096], text[32];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(text, sizeof(text), "%u\n", value);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		pc_log(PC_LOG_WARN, "fs", "cannot count resumes in %s: %s",
		       path, strerror(errno));
}

void pc_fs_resume_forget(const char *cache_dir)
{
	char *path = streak_path(cache_dir);

	if (path && unlink(path) < 0 && errno != ENOENT)
		pc_log(PC_LOG_WARN, "fs", "cannot remove %s: %s", path,
		       strerror(errno));
	free(path);
}

int pc_fs_resume_start(struct pc_fs *fs, const char *cache_dir)
{
	struct fs_restart *r = takeover_state(fs);
	struct fs_resume *res = calloc(1, sizeof(*res));

	if (!r || !res || !(res->path = streak_path(cache_dir))) {
		free(res);
		return -ENOMEM;
	}
	res->streak = read_streak(res->path) + 1;
	write_streak(res->path, res->streak);
	res->quarantine = res->streak > QUARANTINE_AFTER;
	if (res->quarantine)
		pc_log(PC_LOG_ERROR, "fs",
		       "the daemon died %u times in a row after resuming the "
		       "mount, before the requests queued again were done: "
		       "they fail with EIO now (one of them may be what kills "
		       "it)",
		       res->streak - 1);
	r->resume = res;
	return 0;
}

void fs_resume_free(struct pc_fs *fs)
{
	struct fs_resume *res = fs->restart ? fs->restart->resume : NULL;

	if (!res)
		return;
	free(res->path);
	free(res);
	fs->restart->resume = NULL;
}

/* Past what was queued again: the count starts over. */
static void check_settled(struct fs_resume *res)
{
	if (!atomic_load(&res->fresh_seen) ||
	    atomic_load(&res->resent_done) < atomic_load(&res->resent_read) ||
	    atomic_exchange(&res->settled, true))
		return;
	write_streak(res->path, 0);
	pc_log(PC_LOG_INFO, "fs",
	       "resumed: the requests queued again are done (%u processed, "
	       "%u failed with EIO)",
	       atomic_load(&res->resent_read),
	       atomic_load(&res->resent_failed));
}

/* A requeued request answered EIO at once, never processed. */
static void fail_request(struct fs_resume *res, int fd,
			 const struct fuse_in_header *in)
{
	struct fuse_out_header out = { .len = sizeof(out),
				       .error = -EIO,
				       .unique = in->unique };

	if (write(fd, &out, sizeof(out)) < 0 && errno != ENOENT)
		pc_log(PC_LOG_WARN, "fs", "cannot fail a requeued request: %s",
		       strerror(errno));
	atomic_fetch_add(&res->resent_failed, 1);
}

/* peercache-next's crash_lookup: abort() on a LOOKUP of that name. */
static void test_crash(struct pc_fs *fs, const void *buf, size_t n)
{
	const struct fuse_in_header *in = buf;
	const char *name = (const char *)buf + sizeof(*in);
	const char *want = fs->restart ? fs->restart->test.crash_lookup : "";

	if (want[0] && in->opcode == FUSE_LOOKUP &&
	    n > sizeof(*in) + strlen(want) && strcmp(name, want) == 0) {
		fprintf(stderr, "peercache: test hook: crash on %s\n", want);
		abort();
	}
}

enum fs_resume_verdict fs_resume_request(struct pc_fs *fs, int fd,
					 const void *buf, size_t n)
{
	struct fs_resume *res = fs->restart ? fs->restart->resume : NULL;
	const struct fuse_in_header *in = buf;

	if (n < sizeof(*in))
		return RESUME_PROCESS;
	if (res && !atomic_load(&res->settled) && (in->unique & RESEND_BIT) &&
	    res->quarantine) {
		fail_request(res, fd, in);
		return RESUME_ANSWERED;
	}
	test_crash(fs, buf, n); /* as if processing it crashed */
	if (!res || atomic_load(&res->settled))
		return RESUME_PROCESS;
	if (!(in->unique & RESEND_BIT)) {
		atomic_store(&res->fresh_seen, true);
		check_settled(res);
		return RESUME_PROCESS;
	}
	atomic_fetch_add(&res->resent_read, 1);
	return RESUME_REQUEUED;
}

void fs_resume_done(struct pc_fs *fs)
{
	struct fs_resume *res = fs->restart ? fs->restart->resume : NULL;

	if (!res)
		return;
	atomic_fetch_add(&res->resent_done, 1);
	check_settled(res);
}
