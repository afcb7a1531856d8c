/*
 * pc_json.h - the JSON the daemon answers on its control socket and
 * peercachectl prints (docs/CONTROL.md is the contract), built with
 * jansson: a tree is built member by member, then written as one compact
 * line, members in the order they were added.
 *
 * Members go into the innermost open object (with a key) or array (key
 * NULL); the outermost object is made by the first call.  When memory
 * runs out the builder remembers it and ignores the rest, so a caller
 * checks once, at pc_json_finish().  Strings that are not valid UTF-8
 * (a name or an error text from outside) are written with '?' in place
 * of each byte above 0x7f rather than dropped.  Integers are JSON
 * integers; an unsigned one above INT64_MAX (which no counter reaches)
 * is written as INT64_MAX, the largest jansson holds.
 */
#ifndef PC_JSON_H
#define PC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PC_JSON_DEPTH 8

struct json_t;

struct pc_json {
	struct json_t *stack[PC_JSON_DEPTH]; /* [0] the answer; open ones */
	size_t depth;
	bool failed; /* out of memory (or nested too deep): no answer */
};

void pc_json_int(struct pc_json *j, const char *key, int64_t value);
void pc_json_uint(struct pc_json *j, const char *key, uint64_t value);
void pc_json_bool(struct pc_json *j, const char *key, bool value);
/* NULL: "". */
void pc_json_str(struct pc_json *j, const char *key, const char *value);
void pc_json_str_array(struct pc_json *j, const char *key, char *const *items,
		       size_t count);
/* An object ('{') or array ('[') member or item, open until
 * pc_json_close(): what comes between goes into it. */
void pc_json_open(struct pc_json *j, const char *key, char bracket);
void pc_json_close(struct pc_json *j);

/* The answer as one line ended by "\n" (*@len bytes, NUL-terminated);
 * caller owns, free().  NULL if memory ran out.  Frees the tree either
 * way. */
char *pc_json_finish(struct pc_json *j, size_t *len);
/* pc_json_finish() written to @out; -ENOMEM or -EIO on failure. */
int pc_json_print(struct pc_json *j, FILE *out);

#endif /* PC_JSON_H */
