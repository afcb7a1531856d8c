/*
 * helpers.h - what every unit test here needs beyond cmocka: assertions
 * that print the error text next to file:line when a parser's verdict is
 * not the expected one, and scratch directories under /tmp that are
 * removed again, so that the tests run from any working directory.
 *
 * Include after <cmocka.h> (and the headers cmocka needs before it).
 */
#ifndef PC_TEST_HELPERS_H
#define PC_TEST_HELPERS_H

#include <stddef.h>

/*
 * Fails the current test at the caller's file:line unless @rc is
 * @want_rc and the message in @err contains @want_text.  The failure
 * report shows both codes by name and the whole message.
 */
#define assert_error(rc, want_rc, err, want_text)                          \
	pc_test_check_error((rc), (want_rc), (err), (want_text), __FILE__, \
			    __LINE__)
/* Fails unless @err contains @want_text (for calls that return NULL). */
#define assert_message(err, want_text) \
	pc_test_check_message((err), (want_text), __FILE__, __LINE__)
/* Fails unless @rc is 0; prints @err (may be NULL) if it is not. */
#define assert_ok(rc, err) pc_test_check_ok((rc), (err), __FILE__, __LINE__)

void pc_test_check_error(int rc, int want_rc, const char *err,
			 const char *want_text, const char *file, int line);
void pc_test_check_message(const char *err, const char *want_text,
			   const char *file, int line);
void pc_test_check_ok(int rc, const char *err, const char *file, int line);

/* A new empty directory /tmp/pc-test-XXXXXX.  Caller owns; remove and
 * free with pc_test_rmtree().  Fails the test if it cannot be made. */
char *pc_test_tmpdir(void);
/* Removes @dir and everything under it, then frees the string. */
void pc_test_rmtree(char *dir);
/* "@dir/@name" in a new string (caller frees); fails the test on ENOMEM. */
char *pc_test_path(const char *dir, const char *name);
/* Writes @len bytes to a new file at @path; fails the test on error. */
void pc_test_write_file(const char *path, const void *data, size_t len);
/* The whole file at @path, NUL-terminated (caller frees). */
char *pc_test_read_file(const char *path, size_t *len);

/* A copy of @len bytes in a buffer of exactly that size, so that
 * AddressSanitizer catches a parser reading one byte too far. */
void *pc_test_exact_copy(const void *data, size_t len);

#endif
