/*
 * test_log.c - common/pc_log.h: levels map to journald priorities, the
 * threshold drops what is above it, and a cause is logged once, then at
 * most once per PC_LOG_REPEAT_S with the count of repeats held back (and
 * at debug in between), while the lines of many causes are bounded per
 * second.  The clock is the test's, so nothing here waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_log.h"

struct captured {
	size_t count;
	enum pc_log_level level[64];
	char line[64][256];
};

static struct captured cap;
static uint64_t fake_now = 1000;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void capture(void *arg, enum pc_log_level level, const char *subsystem,
		    const char *line)
{
	(void)arg;
	if (cap.count < 64) {
		cap.level[cap.count] = level;
		snprintf(cap.line[cap.count], sizeof(cap.line[0]), "%s: %s",
			 subsystem, line);
	}
	cap.count++;
}

static int setup(void **state)
{
	(void)state;
	memset(&cap, 0, sizeof(cap));
	fake_now = 1000;
	pc_log_set_sink(capture, NULL);
	pc_log_set_clock(fake_clock);
	pc_log_set_level(PC_LOG_INFO);
	pc_log_causes_reset();
	return 0;
}

static void test_log_priorities_are_journald_ones(void **state)
{
	(void)state;
	assert_int_equal(pc_log_priority(PC_LOG_ERROR), 3);
	assert_int_equal(pc_log_priority(PC_LOG_WARN), 4);
	assert_int_equal(pc_log_priority(PC_LOG_INFO), 6);
	assert_int_equal(pc_log_priority(PC_LOG_DEBUG), 7);
	assert_string_equal(pc_log_level_name(PC_LOG_WARN), "warning");
}

static void test_log_threshold_drops_lines_above_it(void **state)
{
	(void)state;
	pc_log(PC_LOG_DEBUG, "net", "not shown");
	pc_log(PC_LOG_INFO, "net", "shown %d", 1);
	assert_int_equal(cap.count, 1);
	assert_string_equal(cap.line[0], "net: shown 1");
	pc_log_set_level(PC_LOG_WARN);
	pc_log(PC_LOG_INFO, "net", "not shown either");
	assert_int_equal(cap.count, 1);
}

static void test_log_cause_once_then_rate_limited(void **state)
{
	(void)state;
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "mirror-slow m1",
				 "mirror m1 is slow"));
	for (int i = 0; i < 5; i++) {
		fake_now += 1000;
		assert_false(pc_log_cause(PC_LOG_WARN, "net", "mirror-slow m1",
					  "mirror m1 is slow"));
	}
	/* At info, the repeats are not shown at all. */
	assert_int_equal(cap.count, 1);
	/* After the interval, once more, with the count of repeats. */
	fake_now += (uint64_t)PC_LOG_REPEAT_S * 1000;
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "mirror-slow m1",
				 "mirror m1 is slow"));
	assert_int_equal(cap.count, 2);
	assert_int_equal(cap.level[1], PC_LOG_WARN);
	assert_non_null(strstr(cap.line[1], "(5 times since"));
	/* Another cause is not held back by the first. */
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "mirror-slow m2",
				 "mirror m2 is slow"));
	assert_int_equal(cap.count, 3);
}

static void test_log_cause_repeats_go_out_at_debug(void **state)
{
	(void)state;
	pc_log_set_level(PC_LOG_DEBUG);
	pc_log_cause(PC_LOG_WARN, "net", "c", "first");
	pc_log_cause(PC_LOG_WARN, "net", "c", "second");
	assert_int_equal(cap.count, 2);
	assert_int_equal(cap.level[0], PC_LOG_WARN);
	assert_int_equal(cap.level[1], PC_LOG_DEBUG);
}

static void test_log_cause_more_severe_is_not_held_back(void **state)
{
	(void)state;
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "c", "warning"));
	assert_true(pc_log_cause(PC_LOG_ERROR, "net", "c", "error"));
	assert_false(pc_log_cause(PC_LOG_WARN, "net", "c", "warning again"));
}

static void test_log_cause_clear_logs_again_at_once(void **state)
{
	(void)state;
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "c", "down"));
	assert_true(pc_log_cause_clear("c"));
	assert_false(pc_log_cause_clear("c"));
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "c", "down again"));
}

static void test_log_many_causes_are_bounded_per_second(void **state)
{
	char cause[32];
	size_t shown = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		snprintf(cause, sizeof(cause), "chunk %d", i);
		shown += pc_log_cause(PC_LOG_WARN, "net", cause, "%s", cause);
	}
	assert_int_equal(shown, PC_LOG_BURST);
	/* A second later the bucket has refilled a little, and the first
	 * line that gets through says how many were held back. */
	fake_now += 1000;
	assert_true(pc_log_cause(PC_LOG_WARN, "net", "late", "late"));
	assert_non_null(strstr(cap.line[cap.count - 1], "150 lines"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_log_priorities_are_journald_ones,
				       setup),
		cmocka_unit_test_setup(test_log_threshold_drops_lines_above_it,
				       setup),
		cmocka_unit_test_setup(test_log_cause_once_then_rate_limited,
				       setup),
		cmocka_unit_test_setup(test_log_cause_repeats_go_out_at_debug,
				       setup),
		cmocka_unit_test_setup(
			test_log_cause_more_severe_is_not_held_back, setup),
		cmocka_unit_test_setup(test_log_cause_clear_logs_again_at_once,
				       setup),
		cmocka_unit_test_setup(
			test_log_many_causes_are_bounded_per_second, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
