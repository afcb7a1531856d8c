/*
 * disc_limits.c - what keeps a flood cheap: per-source and node-wide token
 * buckets that keep a share for neighbours that proved themselves
 * (disc_budget.c), drops summed up in the log once a minute, a send queue
 * that unproven sources may only half fill; and the empty-subnet
 * presumption, which lets a lone node stop waiting for answers that do
 * not come.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "disc_internal.h"

/* ---- rate limits (disc_budget.c) ------------------------------------------ */

bool disc_source_proven(void *arg, const struct pc_addr *addr)
{
	struct pc_disc *d = arg;

	return d->opts.proven && d->opts.proven(d->opts.cb_arg, addr);
}

/*
 * What was dropped since the last line, one line a minute at most (a
 * flood must not flood the log): a neighbour whose packets are dropped is
 * a source this node does not use, which an administrator must hear of.
 * @from: the source of the packet just dropped, if any.
 */
void disc_log_drops(struct pc_disc *d, const struct pc_addr *from, uint64_t now)
{
	const struct pc_disc_counters *c = &d->ctr, *l = &d->logged;

	if (from)
		d->last_dropped = *from;
	if (d->logged_at && now - d->logged_at < PRESSURE_LOG_MS)
		return;
	pc_log(PC_LOG_WARN, "net",
	       "discovery: %s: %llu packets dropped over the budget (%llu "
	       "from sources not proven: forged?), %llu with a wrong or "
	       "missing fleet key tag, %llu from sources not allowed, %llu "
	       "malformed; %llu answers not sent (the last drop: from %s)",
	       d->logged_at ? "in the last minute" : "since the start",
	       (unsigned long long)(c->rate_limited - l->rate_limited),
	       (unsigned long long)(c->rate_limited_unproven -
				    l->rate_limited_unproven),
	       (unsigned long long)(c->bad_tag - l->bad_tag),
	       (unsigned long long)(c->denied - l->denied),
	       (unsigned long long)(c->truncated + c->oversized + c->malformed +
				    c->version - l->truncated - l->oversized -
				    l->malformed - l->version),
	       (unsigned long long)(c->answers_dropped - l->answers_dropped),
	       pc_addr_str(&d->last_dropped));
	d->logged = *c;
	d->logged_at = now ? now : 1;
}

/* Takes a token for a packet from @addr, or drops it (counted). */
bool disc_rate_allows(struct pc_disc *d, const struct pc_addr *addr,
		      uint64_t now, bool *proven)
{
	enum disc_verdict v = disc_budget_take(&d->budget, addr, now, proven);

	if (v == DISC_PASS)
		return true;
	d->ctr.rate_limited++;
	if (!*proven)
		d->ctr.rate_limited_unproven++;
	disc_log_drops(d, addr, now);
	return false;
}

/* True when the socket's send queue is more than half full: answers to
 * sources not proven wait there for addresses that may not exist (a
 * forged source: the kernel holds the answer until ARP gives up), and
 * must not take the room that answers to real neighbours need. */
bool disc_send_queue_crowded(struct pc_disc *d)
{
	uv_os_fd_t fd;
	int queued = 0;

	if (uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) < 0)
		return false;
	return queued > d->sndbuf / 2;
}

/* ---- the empty-subnet presumption ---------------------------------------- */

/*
 * Silent asks alone do not make a subnet empty: neighbours that are busy
 * reading have nothing to answer while they all start cold, and a node
 * that skipped its claim window then would fetch what they fetch.  So a
 * neighbour heard within QUIET_MS keeps every ask (and claim) waiting.
 */
bool disc_presumed_empty(const struct pc_disc *d)
{
	return d->opts.silent_asks && d->silent_streak >= d->opts.silent_asks &&
	       (!d->heard_any || uv_now(d->loop) - d->last_heard >= QUIET_MS);
}

/* Someone else is out there: asks wait for answers again. */
void disc_peer_alive(struct pc_disc *d, const struct disc_endpoint *from)
{
	if (disc_presumed_empty(d))
		pc_log(PC_LOG_INFO, "net",
		       "discovery: heard %s: waiting for answers again",
		       pc_addr_str(&from->addr));
	d->silent_streak = 0;
	d->last_heard = uv_now(d->loop);
	d->heard_any = true;
}

void disc_ask_silent(struct pc_disc *d)
{
	d->silent_streak++;
	if (d->silent_streak == d->opts.silent_asks && disc_presumed_empty(d))
		pc_log(PC_LOG_INFO, "net",
		       "discovery: no answer to %u probes: presuming an "
		       "empty subnet (one ask per %u ms still waits)",
		       d->silent_streak, d->opts.recheck_ms);
}
