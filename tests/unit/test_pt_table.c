/*
 * test_pt_table.c - the table of inodes open in one mode (fs/pt_table.c),
 * which keeps the kernel from failing an open with EIO:
 *  - random inserts and removals at up to three quarters full, and right
 *    up to one empty slot, checked against a plain list after every step:
 *    every entry found, no removed one, the counts kept (a removal that
 *    lost an entry past a wrapped probe would give a second registration
 *    to an open inode);
 *  - removing from a table with a single empty slot returns (it scanned
 *    for an empty slot that a full table does not have);
 *  - a process that died inside a removal leaves an entry twice and one
 *    past an empty slot: pt_table_copy() finds every inode again, once,
 *    with its highest count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pt_table.h"

#define NSLOTS 64u

struct model {
	uint64_t ino[NSLOTS];
	uint32_t opens[NSLOTS];
	unsigned n;
};

static void check(struct pt_slot *slots, const struct model *m)
{
	unsigned used = 0;

	for (unsigned i = 0; i < NSLOTS; i++)
		used += slots[i].ino != 0;
	assert_int_equal(used, m->n);
	for (unsigned i = 0; i < m->n; i++) {
		struct pt_slot *s = pt_table_find(slots, NSLOTS, m->ino[i]);

		assert_true(s->ino == m->ino[i]);
		assert_int_equal(s->opens, m->opens[i]);
		assert_int_equal(s->backing, (uint32_t)m->ino[i] * 3);
	}
}

/* Random steps keeping between @low and @high entries. */
static void churn(unsigned low, unsigned high, unsigned steps, unsigned seed)
{
	struct pt_slot slots[NSLOTS] = { { 0 } };
	struct model m = { .n = 0 };

	srand(seed);
	for (unsigned step = 0; step < steps; step++) {
		bool add = m.n < low || (m.n < high && rand() % 2);

		if (add) {
			/* Small numbers collide on the same homes often. */
			uint64_t ino = 1 + (uint64_t)(rand() % 200);
			struct pt_slot *s = pt_table_find(slots, NSLOTS, ino);

			if (s->ino == ino)
				continue;
			assert_int_equal(s->ino, 0);
			*s = (struct pt_slot){ .ino = ino,
					       .backing = (uint32_t)ino * 3,
					       .opens = 1 + ino % 5 };
			m.ino[m.n] = ino;
			m.opens[m.n++] = 1 + ino % 5;
		} else if (m.n > 0) {
			unsigned k = (unsigned)rand() % m.n;
			struct pt_slot *s =
				pt_table_find(slots, NSLOTS, m.ino[k]);

			assert_true(s->ino == m.ino[k]);
			pt_table_remove(slots, NSLOTS, s);
			m.ino[k] = m.ino[--m.n];
			m.opens[k] = m.opens[m.n];
		}
		check(slots, &m);
		for (unsigned i = 0; i < 3; i++) /* and none that went */
			assert_true(
				pt_table_find(slots, NSLOTS, 1000 + i)->ino ==
				0);
	}
}

static void test_pt_table_churn(void **unused)
{
	(void)unused;
	churn(NSLOTS / 2, NSLOTS / 4 * 3, 20000, 1);
	churn(NSLOTS - 2, NSLOTS - 1, 20000, 2);
}

static void test_pt_table_remove_from_full(void **unused)
{
	struct pt_slot slots[NSLOTS] = { { 0 } };
	uint64_t ino = 1;

	(void)unused;
	/* Every slot but one taken, then the last one too (a table the
	 * caller let fill up): removals still return. */
	for (unsigned n = 0; n < NSLOTS; n++, ino++)
		*pt_table_find(slots, NSLOTS, ino) =
			(struct pt_slot){ .ino = ino, .opens = 1 };
	for (uint64_t i = 1; i < ino; i++) {
		struct pt_slot *s = NULL;

		for (unsigned k = 0; k < NSLOTS; k++)
			if (slots[k].ino == i)
				s = &slots[k];
		assert_non_null(s);
		pt_table_remove(slots, NSLOTS, s);
		for (uint64_t j = i + 1; j < ino; j++)
			assert_true(pt_table_find(slots, NSLOTS, j)->ino == j);
	}
	for (unsigned k = 0; k < NSLOTS; k++)
		assert_int_equal(slots[k].ino, 0);
}

/* @copy holds every inode of @torn once, with its highest count. */
static void check_copy(const struct pt_slot *torn)
{
	struct pt_slot copy[NSLOTS] = { { 0 } };
	unsigned distinct = 0;

	for (unsigned k = 0; k < NSLOTS; k++) {
		bool first = true;

		if (!torn[k].ino)
			continue;
		for (unsigned j = 0; j < k; j++)
			first = first && torn[j].ino != torn[k].ino;
		distinct += first;
	}
	assert_int_equal(pt_table_copy(copy, torn, NSLOTS), distinct);
	for (unsigned k = 0; k < NSLOTS; k++) {
		struct pt_slot *s;
		uint32_t most = 0;

		if (!torn[k].ino)
			continue;
		for (unsigned j = 0; j < NSLOTS; j++)
			if (torn[j].ino == torn[k].ino && torn[j].opens > most)
				most = torn[j].opens;
		s = pt_table_find(copy, NSLOTS, torn[k].ino);
		assert_true(s->ino == torn[k].ino);
		assert_int_equal(s->opens, most);
	}
}

/* A table of @n inodes, probing runs of two or more somewhere. */
static unsigned fill(struct pt_slot *slots, uint64_t n)
{
	for (uint64_t ino = 1; ino <= n; ino++)
		*pt_table_find(slots, NSLOTS, ino) =
			(struct pt_slot){ .ino = ino, .opens = (uint32_t)ino };
	for (unsigned k = 0; k < NSLOTS; k++)
		if (slots[k].ino && slots[(k + 1) % NSLOTS].ino &&
		    slots[(k + 2) % NSLOTS].ino)
			return k;
	fail_msg("no run of three taken slots");
	return 0;
}

static void test_pt_table_copy_mends_a_torn_removal(void **unused)
{
	struct pt_slot slots[NSLOTS] = { { 0 } };
	unsigned k;

	(void)unused;
	/* A removal torn after a move, before the emptying: an entry in its
	 * new slot and still in its old one (with a stale count there). */
	k = fill(slots, 40);
	slots[k] = slots[(k + 1) % NSLOTS];
	slots[k].opens = 0;
	check_copy(slots);
	/* A removal torn after the emptying, before the entries past it
	 * moved back: they may be past an empty slot. */
	memset(slots, 0, sizeof(slots));
	k = fill(slots, 40);
	slots[(k + 1) % NSLOTS] = (struct pt_slot){ 0 };
	check_copy(slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_table_churn),
		cmocka_unit_test(test_pt_table_remove_from_full),
		cmocka_unit_test(test_pt_table_copy_mends_a_torn_removal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
