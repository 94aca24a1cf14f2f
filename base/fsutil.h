/*
 * fsutil: the file-system primitives every module shares: atomic publish (temp file, fsync,
 * rename, fsync of the directory — a reader never sees half a file, a crash leaves the old or
 * the new one), bounded reads, directory creation.
 */
#ifndef JPKI_FSUTIL_H
#define JPKI_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/jerr.h"

/* Writes `len` bytes to `path` atomically with `mode` (a temp file of unpredictable name in the
 * same directory, fsync, rename or link, fsync of the directory). With `exclusive`, refuses
 * (JERR_CONFLICT) when `path` exists, also when it appears during the write: it is never
 * replaced. A full disk is JERR_UNAVAILABLE. Returns 0 or -1 (nothing left behind on
 * failure). */
int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                        struct jerr *err);

/* The first half of fsutil_write_atomic: writes `len` bytes to a new temp file beside `path`
 * (unpredictable name, `mode`, fsync'd) and puts its name in `tmp`. The caller publishes it
 * (fsutil_publish) or unlinks it. Returns 0 or -1 (nothing left behind). */
int fsutil_write_temp(const char *path, const void *data, size_t len, mode_t mode, char *tmp,
                      size_t tmp_size, struct jerr *err);

/* Is `name` (a file name, no directory) a temp file that fsutil_write_temp made beside a file
 * whose name ends in `suffix` — "<…><suffix>.tmp-" and 12 hex digits? A crash between the
 * write and the publication leaves such files. */
bool fsutil_is_temp_of(const char *name, const char *suffix);

/* Renames `tmp_path` (already written and fsync'd by the caller) onto `path` and fsyncs the
 * directory. Returns 0 or -1. */
int fsutil_publish(const char *tmp_path, const char *path, struct jerr *err);

/* fsyncs the directory that holds `path`. */
int fsutil_sync_parent(const char *path, struct jerr *err);

/* Reads a whole file of at most `max` bytes into a malloc'd buffer (NUL-terminated for
 * convenience; *len excludes it). JERR_NOT_FOUND when missing, JERR_TOO_LARGE over max. */
int fsutil_read_file(const char *path, size_t max, unsigned char **data, size_t *len,
                     struct jerr *err);

/* mkdir -p with `mode` for the directories it creates. */
int fsutil_mkdirs(const char *path, mode_t mode, struct jerr *err);

bool fsutil_exists(const char *path);

/* Refuses (JERR_IO) a file with any group/other permission bits: keys must be 0600. */
int fsutil_check_private(const char *path, struct jerr *err);

#endif
