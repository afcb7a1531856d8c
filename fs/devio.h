/*
 * devio.h - how the FUSE session reads and writes /dev/fuse (devio.c):
 * libfuse's custom I/O, so that the request loop can be paused and ended
 * without losing a request, replies can be left to the next process, and
 * the INIT exchange is kept for it.  Shared by the files of fs/ only.
 */
#ifndef PC_FS_DEVIO_H
#define PC_FS_DEVIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_fs;
struct fuse_session;

/* The state of fs->devio, and the kick signal's handler (SIGUSR2, which
 * the daemon uses for nothing else).  0 or a negative errno. */
int fs_devio_new(struct pc_fs *fs);
void fs_devio_free(struct pc_fs *fs);

/* Has @se read and write @fd (the session's own after a mount, or one
 * inherited) through devio.  0 or a negative errno. */
int fs_devio_attach(struct pc_fs *fs, struct fuse_session *se, int fd);

/* The INIT request and its reply, once the kernel's INIT was answered in
 * this session (recorded, or replayed below); false before.  Borrowed:
 * valid until fs_devio_free(). */
bool fs_devio_init(struct pc_fs *fs, const void **req, size_t *req_len,
		   const void **reply, size_t *reply_len);
/* The kernel's FUSE minor version, from the INIT request (0 before). */
uint32_t fs_devio_kernel_minor(struct pc_fs *fs);
/* The kernel can queue again what was read and not answered
 * (FUSE_NOTIFY_RESEND, Linux 6.9): its INIT request says FUSE_HAS_RESEND
 * (false before INIT). */
bool fs_devio_kernel_resends(struct pc_fs *fs);

/* An INIT exchange as libfuse and the kernel would have it: a whole
 * FUSE_INIT request (its header's length is the buffer's, its arguments
 * as long as its flags say) and a successful reply to that very request.
 * What a saved state is checked with before libfuse reads it. */
bool fs_init_sane(const void *req, size_t req_len, const void *reply,
		  size_t reply_len);
/* The INIT request @req (sane) says FUSE_HAS_RESEND. */
bool fs_init_resends(const void *req, size_t req_len);
/* Called (on a FUSE worker) once the INIT reply has reached the kernel. */
void fs_devio_on_init(struct pc_fs *fs, void (*hook)(struct pc_fs *fs));

/*
 * A session on an inherited fd: feeds @se the INIT request another process
 * answered, without touching the fd, and compares libfuse's reply with
 * the one the kernel got.  0 if they are the same bytes; -EPROTO with the
 * difference in @err if this build would negotiate differently.
 */
int fs_devio_replay_init(struct pc_fs *fs, struct fuse_session *se,
			 const void *req, size_t req_len, const void *reply,
			 size_t reply_len, char *err, size_t errlen);

/* The session's /dev/fuse fd (set by fs_devio_attach). */
int fs_devio_fd(struct pc_fs *fs);
/* The calling worker's next OPEN reply opens the file in passthrough mode
 * on registration @backing (passthrough.c); 0 after the reply. */
void fs_devio_open_backing(uint32_t backing);

/* The workers stop reading: 0 once none holds a request it read (each
 * waits in devio, reading nothing), -ETIMEDOUT after @timeout_ms (they
 * read again then). */
int fs_devio_pause(struct pc_fs *fs, int timeout_ms);
/* From now on replies reach the kernel no more: they stay in its
 * processing list for FUSE_NOTIFY_RESEND (the next process, or this one
 * if it must go on).  Waits for the replies being written. */
void fs_devio_cut(struct pc_fs *fs);
/* Ends the request loop: fuse_session_exit(), then every worker returns
 * (a paused one at once, a reading one woken).  Safe after a pause: no
 * request is read and then dropped. */
void fs_devio_exit(struct pc_fs *fs, struct fuse_session *se);
/* Back to serving before the next loop: replies are written again. */
void fs_devio_serve(struct pc_fs *fs);
/* Writes FUSE_NOTIFY_RESEND: the kernel queues again every request that
 * was read from this device and not answered.  0 or a negative errno
 * (-EINVAL before Linux 6.9). */
int fs_devio_resend(struct pc_fs *fs);

#endif /* PC_FS_DEVIO_H */
