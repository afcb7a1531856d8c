/*
 * parse.c - the small, strict tokenizing helpers shared by the head and the
 * manifest parsers.  Both formats are line-oriented text with single spaces
 * between fields; anything not exactly canonical is refused, so that one
 * content hash has one meaning.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int fmt_cursor_line(struct fmt_cursor *cur, const char **line, size_t *len)
{
	const char *nl;

	if (cur->pos >= cur->end)
		return -EBADMSG;
	nl = memchr(cur->pos, '\n', (size_t)(cur->end - cur->pos));
	if (!nl)
		return -EBADMSG;
	*line = cur->pos;
	*len = (size_t)(nl - cur->pos);
	cur->pos = nl + 1;
	return 0;
}

int fmt_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		unsigned digit;

		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		digit = (unsigned)(s[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return -EBADMSG;
		value = value * 10 + digit;
	}
	if (value > max)
		return -EBADMSG;
	*out = value;
	return 0;
}

int fmt_split_word(const char *line, size_t len, size_t *word_len,
		   const char **rest, size_t *rest_len)
{
	const char *space = memchr(line, ' ', len);

	if (!space)
		return -EBADMSG;
	*word_len = (size_t)(space - line);
	*rest = space + 1;
	*rest_len = len - *word_len - 1;
	return 0;
}
