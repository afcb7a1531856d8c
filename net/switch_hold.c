/*
 * switch_hold.c - holding version switches while a restart pauses the
 * mount (pc_net_hold_switches).
 *
 * A version switch ends with the fs hook, on the loop thread, telling the
 * kernel which names changed (fuse_lowlevel_notify_inval_entry and
 * _inode).  An invalidation takes the directory's lock in the kernel; a
 * LOOKUP in that directory waiting in the kernel's queue holds it
 * (shared) until a FUSE worker answers it.  While a restart has paused
 * the workers nobody does: the loop thread would block for good in the
 * invalidation, the daemon's main thread for good joining it, and the
 * mount would hang.  So a restart first holds switches: new ones wait
 * (an install whose manifest has arrived waits for the release) or are
 * refused (rollback, unpin), and the hold is granted once those already
 * running have run their hook, with the workers still serving.  A
 * takeover that goes ahead never releases it (the net stops; the new
 * process polls at start and installs what was waiting); one called off
 * releases it, and what waited goes on.
 *
 * Two atomics and no lock: begin counts itself running and then looks at
 * the hold, the holder sets the hold and then looks at the count
 * (sequentially consistent), so one of the two sees the other.
 */
#include <assert.h>
#include <errno.h>
#include <unistd.h>

#include "net.h"
#include "pc_util.h"

bool net_switch_begin(struct pc_net *net)
{
	atomic_fetch_add(&net->switches.running, 1);
	if (!atomic_load(&net->switches.hold))
		return true;
	atomic_fetch_sub(&net->switches.running, 1);
	return false;
}

void net_switch_end(struct pc_net *net)
{
	int before = atomic_fetch_sub(&net->switches.running, 1);

	assert(before > 0); /* every end has its begin */
	(void)before;
}

int pc_net_hold_switches(struct pc_net *net, int timeout_ms)
{
	int64_t deadline = pc_monotonic_ns() + (int64_t)timeout_ms * 1000000;

	atomic_store(&net->switches.hold, true);
	while (atomic_load(&net->switches.running) > 0) {
		if (pc_monotonic_ns() >= deadline) {
			pc_net_release_switches(net);
			return -EBUSY;
		}
		usleep(10000);
	}
	return 0;
}

void pc_net_release_switches(struct pc_net *net)
{
	atomic_store(&net->switches.hold, false);
	/* A poll on the loop thread, which starts an install that waited
	 * (net_head_request), in every repository. */
	for (size_t i = 0; i < net->nrepos; i++)
		pc_net_repo_refresh(net->repos[i], false, 0);
}
