/*
 * pt_table.c - the table of inodes open for passthrough.c (pt_table.h).
 */
#include "pt_table.h"

static uint32_t home(uint64_t ino, uint32_t nslots)
{
	return (uint32_t)((ino * 0x9e3779b97f4a7c15ull) >> 32) & (nslots - 1);
}

struct pt_slot *pt_table_find(struct pt_slot *slots, uint32_t nslots,
			      uint64_t ino)
{
	uint32_t i = home(ino, nslots);

	while (slots[i].ino != ino && slots[i].ino != 0)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

void pt_table_remove(struct pt_slot *slots, uint32_t nslots, struct pt_slot *s)
{
	uint32_t hole = (uint32_t)(s - slots), i = hole, want;

	/* The slot an entry leaves is emptied at once, so the scan always
	 * meets an empty slot, even in a table that was full. */
	slots[hole] = (struct pt_slot){ 0 };
	for (;;) {
		i = (i + 1) & (nslots - 1);
		if (slots[i].ino == 0)
			return;
		want = home(slots[i].ino, nslots);
		/* The entry at i may fill the hole unless its home lies
		 * cyclically in (hole, i]. */
		if ((i > hole && (want <= hole || want > i)) ||
		    (i < hole && want <= hole && want > i)) {
			slots[hole] = slots[i];
			slots[i] = (struct pt_slot){ 0 };
			hole = i;
		}
	}
}

uint32_t pt_table_copy(struct pt_slot *to, const struct pt_slot *from,
		       uint32_t nslots)
{
	uint32_t count = 0;
	struct pt_slot *s;

	for (uint32_t i = 0; i < nslots; i++) {
		if (from[i].ino == 0)
			continue;
		s = pt_table_find(to, nslots, from[i].ino);
		if (s->ino == 0)
			count++;
		if (s->ino == 0 || s->opens < from[i].opens)
			*s = from[i];
	}
	return count;
}
