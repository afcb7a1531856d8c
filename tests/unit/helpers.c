/*
 * helpers.c - shared assertions and scratch directories for the unit
 * tests (see helpers.h).  Failures go through cmocka's _fail() with the
 * caller's file and line, so the report points at the test, not here.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

static const char *code_name(int rc)
{
	return rc == 0 ? "success" : strerror(-rc);
}

void pc_test_check_error(int rc, int want_rc, const char *err,
			 const char *want_text, const char *file, int line)
{
	if (rc == want_rc && err && strstr(err, want_text))
		return;
	print_error("%s:%d: got %d (%s) with message \"%s\"\n"
		    "%s:%d: want %d (%s) with a message containing \"%s\"\n",
		    file, line, rc, code_name(rc), err ? err : "(null)", file,
		    line, want_rc, code_name(want_rc), want_text);
	_fail(file, line);
}

void pc_test_check_message(const char *err, const char *want_text,
			   const char *file, int line)
{
	if (err && strstr(err, want_text))
		return;
	print_error("%s:%d: message \"%s\" does not contain \"%s\"\n", file,
		    line, err ? err : "(null)", want_text);
	_fail(file, line);
}

void pc_test_check_ok(int rc, const char *err, const char *file, int line)
{
	if (rc == 0)
		return;
	print_error("%s:%d: got %d (%s) with message \"%s\", want success\n",
		    file, line, rc, code_name(rc), err ? err : "(null)");
	_fail(file, line);
}

char *pc_test_tmpdir(void)
{
	char *dir = strdup("/tmp/pc-test-XXXXXX");

	assert_non_null(dir);
	if (!mkdtemp(dir)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		fail();
	}
	return dir;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void pc_test_rmtree(char *dir)
{
	if (!dir)
		return;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *pc_test_path(const char *dir, const char *name)
{
	char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		fail();
	return path;
}

void pc_test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		print_error("%s: %s\n", path, strerror(errno));
		fail();
	}
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

char *pc_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0;
	FILE *out;
	int c;

	if (!f) {
		print_error("%s: %s\n", path, strerror(errno));
		fail();
	}
	out = open_memstream(&buf, &size);
	assert_non_null(out);
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(f);
	assert_int_equal(fclose(out), 0);
	if (len)
		*len = size;
	return buf;
}

void *pc_test_exact_copy(const void *data, size_t len)
{
	void *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	return copy;
}
