/*
 * pt_table.h - the open-addressing table behind passthrough.c: inode ->
 * (registration, opens), in slots that live in a shared mapping.  Linear
 * probing without tombstones; the caller keeps at least one slot empty
 * (passthrough.c stops at three quarters) and holds its lock.
 */
#ifndef PC_FS_PT_TABLE_H
#define PC_FS_PT_TABLE_H

#include <stdint.h>

struct pt_slot {
	uint64_t ino;	  /* 0: empty */
	uint32_t backing; /* the registration; 0: through the page cache */
	uint32_t opens;
};

/* @ino's slot among @nslots (a power of two), or the empty slot where it
 * would go. */
struct pt_slot *pt_table_find(struct pt_slot *slots, uint32_t nslots,
			      uint64_t ino);
/* Empties @s, moving back the entries after it that probed past it.  A
 * process that dies in here leaves an entry twice, or one past an empty
 * slot: pt_table_copy() mends both. */
void pt_table_remove(struct pt_slot *slots, uint32_t nslots, struct pt_slot *s);
/* Inserts every entry of @from into the empty @to (both of @nslots), each
 * inode once, with the highest count it had.  The number of entries. */
uint32_t pt_table_copy(struct pt_slot *to, const struct pt_slot *from,
		       uint32_t nslots);

#endif /* PC_FS_PT_TABLE_H */
