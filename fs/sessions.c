/*
 * sessions.c - one fs among the daemon's several (one mount per
 * repository, daemon/repos.c): a stop from another session, and what a
 * session cannot do while there are others.
 *
 * A restart hands one mount to one new process (takeover.c); handing
 * over several at once, each with its own pause and its own GO, is not
 * built, so a daemon of several refuses it at once with a reason the
 * administrator can act on.  systemd's fd store keeps one mount and its
 * state under fixed names (fdstore.c); with several, nothing is stored: a
 * crash ends every mount, and the next start clears the dead ones.
 */
#include <stdio.h>
#include <unistd.h>

#include "internal.h"
#include "takeover.h"

void pc_fs_stop(struct pc_fs *fs)
{
	struct fs_restart *r = takeover_state(fs);
	char c = 'T';

	if (!r)
		return;
	/* Either the control thread runs and hears of it, or pc_fs_run()
	 * sees r->stop once it has started that thread (both atomics
	 * sequentially consistent: one of the two sees the other). */
	atomic_store(&r->stop, true);
	if (atomic_load(&r->running) && write(r->wake[1], &c, 1) < 0) {
		/* a full pipe already holds a stop */
	}
}

void pc_fs_set_sessions(struct pc_fs *fs, size_t count)
{
	struct fs_restart *r = takeover_state(fs);

	fs->fdstore = count <= 1;
	if (!r || count <= 1)
		return;
	snprintf(r->refusal_text, sizeof(r->refusal_text),
		 "restart hands over one mount; this daemon serves %zu "
		 "repositories: stop and start it",
		 count);
	r->refusal = r->refusal_text;
}
