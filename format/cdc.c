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
 */
#include <pthread.h>

#include "internal.h"

#define GEAR_SEED 0x7065657263616368ull /* "peercach" */
#define MASK_BITS(n) (~0ull << (64 - (n)))
#define MASK_HARD MASK_BITS(22) /* before PC_CHUNK_AVG: log2(avg) + 2 */
#define MASK_EASY MASK_BITS(18) /* after PC_CHUNK_AVG:  log2(avg) - 2 */

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

size_t pc_cdc_cut(const uint8_t *buf, size_t len)
{
	size_t normal = PC_CHUNK_AVG;
	size_t end = len;
	uint64_t hash = 0;
	size_t i;

	if (len <= PC_CHUNK_MIN)
		return len;
	if (end > PC_CHUNK_MAX)
		end = PC_CHUNK_MAX;
	if (normal > end)
		normal = end;
	pthread_once(&gear_once, gear_init);

	for (i = PC_CHUNK_MIN; i < normal; i++) {
		hash = (hash << 1) + gear[buf[i]];
		if (!(hash & MASK_HARD))
			return i + 1;
	}
	for (; i < end; i++) {
		hash = (hash << 1) + gear[buf[i]];
		if (!(hash & MASK_EASY))
			return i + 1;
	}
	return end;
}
