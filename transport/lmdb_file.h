/*
 * lmdb_file.h - the file rules shared by the agent's own LMDB caches (the
 * TLS session cache, the MTA-STS policy cache).
 *
 * Interface:
 *   lmdb_file_name()   "lmdb:/path" to the data file "/path.lmdb"
 *                      (MDB_NOSUBDIR, as Postfix names its lmdb: files);
 *                      -1 with a reason for another type or a relative path
 *   lmdb_file_check()  the file (by fd when fd >= 0, else by name: a file
 *                      that does not exist yet passes) is a regular file
 *                      owned by the agent's user; group and other bits are
 *                      removed.  -1 with a reason otherwise.
 *   lmdb_file_complete() the data file holds every page its meta page
 *                      claims: touching a page past the end would be
 *                      SIGBUS.  -1 with a reason otherwise.
 */
#ifndef TLSMTP_LMDB_FILE_H
#define TLSMTP_LMDB_FILE_H

#include <stddef.h>
#include <lmdb.h>

int lmdb_file_name(const char *spec, char *out, size_t outlen, const char **why);
int lmdb_file_check(const char *file, int fd, const char **why);
int lmdb_file_complete(MDB_env *env, int fd, const char **why);

#endif
