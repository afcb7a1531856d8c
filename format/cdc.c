/*
 * cdc.c - FastCDC content-defined chunking (Xia et al., USENIX ATC 2016).
 *
 * A 64-bit gear hash rolls over the data; a cut is made where the hash has
 * its top bits clear.  Cut-point skipping starts hashing only at the minimum
 * chunk size, and normalized chunking (level 2) uses a harder mask before
 * the average size and an easier one after it, which narrows the spread of
 * chunk sizes around 1 MiB.  Because cuts depend only on the bytes near
 * them, an insertion changes the chunk it lands in and, at worst, the next
 * one; the rest of the file keeps its chunk ids (the delta delivery).
 *
 * The gear table is derived from a fixed seed with splitmix64, so it is
 * part of the format (docs/FORMAT.md) and never changes.
 *
 * Speed: each step of the roll waits for the one before it (shift, add),
 * so one stream leaves most of the CPU idle.  But the hash at a position
 * depends only on the WINDOW bytes up to it (older ones are shifted out),
 * so the search runs two streams at once over two neighbouring blocks,
 * the second one starting WINDOW bytes early to fill its hash; the CPU
 * overlaps the two chains, which about halves the publisher's time
 * cutting.  The first cut of the first block wins, then the first of the
 * second: the cuts are exactly those of the one-stream loop of
 * docs/FORMAT.md (tests/unit/test_cdc.c compares them, at block edges).
 */
#include <pthread.h>

#include "internal.h"

#define GEAR_SEED 0x7065657263616368ull /* "peercach" */
#define MASK_BITS(n) (~0ull << (64 - (n)))
#define MASK_HARD MASK_BITS(22) /* before PC_CHUNK_AVG: log2(avg) + 2 */
#define MASK_EASY MASK_BITS(18) /* after PC_CHUNK_AVG:  log2(avg) - 2 */
#define WINDOW 64		/* bytes a hash depends on: 64-bit shifts */
#define SCAN_BLOCK (16 * 1024)	/* bytes per stream and step */

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void gear_init(void)
{
	uint64_t state = GEAR_SEED;

	for (int i = 0; i < 256; i++)
		gear[i] = splitmix64(&state);
}

static uint64_t roll(uint64_t hash, uint8_t byte)
{
	return (hash << 1) + gear[byte];
}

/* The hash rolled from 0 over [from, to). */
static uint64_t warm(const uint8_t *buf, size_t from, size_t to)
{
	uint64_t hash = 0;

	for (size_t i = from; i < to; i++)
		hash = roll(hash, buf[i]);
	return hash;
}

/* One stream over [i, end), continuing *hash: the end of the first cut
 * (the position after it), or 0 if there is none. */
static size_t scan_one(const uint8_t *buf, size_t i, size_t end, uint64_t *hash,
		       uint64_t mask)
{
	uint64_t h = *hash;

	for (; i < end; i++) {
		h = roll(h, buf[i]);
		if (!(h & mask))
			return i + 1;
	}
	*hash = h;
	return 0;
}

/* The end of the first cut in [from, to) under @mask, for a hash that
 * starts from 0 at @start (<= from), or 0 if there is none.  Two streams:
 * A over [a, b), B over [b, b + m), then A goes on where B stopped. */
static size_t scan(const uint8_t *buf, size_t start, size_t from, size_t to,
		   uint64_t mask)
{
	uint64_t ha, hb = 0;
	size_t a, b, n, m, k, cut;

	ha = warm(buf, from - start > WINDOW ? from - WINDOW : start, from);
	for (a = from; a < to; a = b + m) {
		n = to - a < SCAN_BLOCK ? to - a : SCAN_BLOCK;
		b = a + n;
		m = to - b < SCAN_BLOCK ? to - b : SCAN_BLOCK; /* m <= n */
		if (m)
			hb = warm(buf, b - WINDOW, b);
		for (k = 0; k < m; k++) {
			ha = roll(ha, buf[a + k]);
			hb = roll(hb, buf[b + k]);
			if (!(ha & mask))
				return a + k + 1;
			if (!(hb & mask)) {
				cut = scan_one(buf, a + k + 1, b, &ha, mask);
				return cut ? cut : b + k + 1;
			}
		}
		cut = scan_one(buf, a + m, b, &ha, mask); /* m < n: the end */
		if (cut)
			return cut;
		ha = hb;
	}
	return 0;
}

size_t pc_cdc_cut(const uint8_t *buf, size_t len)
{
	size_t normal = PC_CHUNK_AVG;
	size_t end = len;
	size_t cut;

	if (len <= PC_CHUNK_MIN)
		return len;
	if (end > PC_CHUNK_MAX)
		end = PC_CHUNK_MAX;
	if (normal > end)
		normal = end;
	pthread_once(&gear_once, gear_init);

	cut = scan(buf, PC_CHUNK_MIN, PC_CHUNK_MIN, normal, MASK_HARD);
	if (!cut)
		cut = scan(buf, PC_CHUNK_MIN, normal, end, MASK_EASY);
	return cut ? cut : end;
}
