/*
 * pc-handle.c - test helper: NFS-style file handles on a peercache mount.
 *
 *   pc-handle save FILE HANDLE_FILE    name_to_handle_at(FILE) → HANDLE_FILE
 *   pc-handle cat MOUNT HANDLE_FILE    open_by_handle_at → content on stdout
 *
 * A handle saved before caches are dropped, or before the daemon restarts,
 * must still open the same file afterwards (FUSE_CAP_EXPORT_SUPPORT and
 * persistent inode numbers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_ROOM 128

static int save(const char *file, const char *out_path)
{
	struct file_handle *fh = malloc(sizeof(*fh) + HANDLE_ROOM);
	int mount_id;
	FILE *out;

	if (!fh)
		return 1;
	fh->handle_bytes = HANDLE_ROOM;
	if (name_to_handle_at(AT_FDCWD, file, fh, &mount_id, 0) < 0) {
		fprintf(stderr, "name_to_handle_at %s: %s\n", file,
			strerror(errno));
		return 1;
	}
	out = fopen(out_path, "w");
	if (!out || fwrite(fh, sizeof(*fh) + fh->handle_bytes, 1, out) != 1 ||
	    fclose(out) != 0) {
		fprintf(stderr, "cannot write %s\n", out_path);
		return 1;
	}
	free(fh);
	return 0;
}

static int cat(const char *mount, const char *in_path)
{
	struct file_handle *fh = calloc(1, sizeof(*fh) + HANDLE_ROOM);
	char buf[65536];
	int mount_fd, fd;
	ssize_t n;
	FILE *in;

	in = fopen(in_path, "r");
	if (!fh || !in ||
	    fread(fh, 1, sizeof(*fh) + HANDLE_ROOM, in) < sizeof(*fh)) {
		fprintf(stderr, "cannot read %s\n", in_path);
		return 1;
	}
	fclose(in);
	mount_fd = open(mount, O_RDONLY | O_DIRECTORY);
	if (mount_fd < 0) {
		fprintf(stderr, "%s: %s\n", mount, strerror(errno));
		return 1;
	}
	fd = open_by_handle_at(mount_fd, fh, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "open_by_handle_at: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
	if (n < 0) {
		fprintf(stderr, "read: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	close(mount_fd);
	free(fh);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "save") == 0)
		return save(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "cat") == 0)
		return cat(argv[2], argv[3]);
	fprintf(stderr, "usage: pc-handle save FILE OUT | cat MOUNT IN\n");
	return 2;
}
