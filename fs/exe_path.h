/*
 * exe_path.h - the program a restart starts (exe_path.c).  fs/ only.
 */
#ifndef PC_FS_EXE_PATH_H
#define PC_FS_EXE_PATH_H

#include <stddef.h>

/* At start: the absolute path of the binary started as @argv0 in @cwd
 * (its directory resolved, its last name kept).  Caller frees.  NULL with
 * why in @why (a relative $PATH entry, not found). */
char *pc_fs_exe_path(const char *argv0, const char *cwd, char *why, size_t len);
/* Before a restart: 0 if @path, the file it links to and the directories
 * above both are owned by root (or the daemon's user) and writable by
 * nobody else; -EPERM (or another -errno) with why in @why. */
int pc_fs_exe_check(const char *path, char *why, size_t len);

#endif /* PC_FS_EXE_PATH_H */
