/*
 * lmdb_file.c - file name, ownership, mode and completeness checks for
 * the agent's LMDB caches.  Whoever can write a cache can steer a
 * delivery (plant a session ticket, or a policy that allows a forged MX),
 * so each file must be the agent user's own and mode 0600 at most.
 *
 * Interface: lmdb_file.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>

/* tls */
#include "lmdb_file.h"

int
lmdb_file_name(const char *spec, char *out, size_t outlen, const char **why)
{
	const char *path;

	if (strncmp(spec, "lmdb:", 5) != 0) {
		*why = "unsupported database type (only lmdb: is supported)";
		return -1;
	}
	path = spec + 5;
	if (path[0] != '/') {
		*why = "the path must be absolute";
		return -1;
	}
	if ((size_t)snprintf(out, outlen, "%s.lmdb", path) >= outlen) {
		*why = "path too long";
		return -1;
	}
	return 0;
}

int
lmdb_file_check(const char *file, int fd, const char **why)
{
	struct stat st;
	int rc = fd >= 0 ? fstat(fd, &st) : lstat(file, &st);

	if (rc != 0) {
		*why = strerror(errno);
		return errno == ENOENT && fd < 0 ? 0 : -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -1;
	}
	if (st.st_uid != geteuid()) {
		*why = "not owned by the agent's user";
		return -1;
	}
	if ((st.st_mode & 077) != 0
	    && (fd >= 0 ? fchmod(fd, st.st_mode & 0600) : chmod(file, st.st_mode & 0600)) != 0) {
		*why = "cannot remove group and other permissions";
		return -1;
	}
	return 0;
}

int
lmdb_file_complete(MDB_env *env, int fd, const char **why)
{
	MDB_envinfo info;
	MDB_stat stat;
	struct stat st;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0 || fstat(fd, &st) != 0) {
		*why = "cannot read the file's state";
		return -1;
	}
	if ((uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize) {
		*why = "file truncated";
		return -1;
	}
	return 0;
}
