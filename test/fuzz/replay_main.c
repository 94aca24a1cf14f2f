/*
 * replay_main: the standalone main of the replay_<target> programs. Linked with one
 * fuzz_<target>.c, it feeds every file of the directories (or the files) named on the command
 * line to LLVMFuzzerTestOneInput, in name order, each from a heap buffer of exactly its size
 * (so AddressSanitizer sees a read past the end). ctest runs it as fuzz-replay.<target> over
 * test/fuzz/corpus/<target>/ and test/fuzz/regressions/<target>/ in every build — SQLite's
 * habit of replaying saved fuzz inputs in the ordinary test run (main.mk "fuzztest").
 *
 *   replay_<target> [-q] PATH...    a missing PATH is skipped (regressions/ may not exist);
 *                                   no input at all is an error (a corpus is never empty).
 *
 * A broken contract or a sanitizer report aborts; the name of the input is printed first.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* No seed or saved crasher is this large (the corpus keeps files under 16 KiB). */
#define REPLAY_MAX_INPUT_BYTES (1024 * 1024)

static bool quiet;

/* Reads and runs one file. Returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: %s: cannot find its size\n", path);
        goto out;
    }
    if (size > REPLAY_MAX_INPUT_BYTES) {
        fprintf(stderr, "replay: %s: %ld bytes, over %d\n", path, size, REPLAY_MAX_INPUT_BYTES);
        goto out;
    }
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL || (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        goto out;
    }
    if (!quiet)
        printf("replay: %s (%ld bytes)\n", path, size);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int skip_dot(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Runs every regular file of `dir` in name order; adds to *count. Returns 0 or -1. */
static int replay_dir(const char *dir, size_t *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, skip_dot, alphasort);
    int rc = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (rc == 0 &&
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) == -1)
                rc = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int first = 1;

    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = true;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-q] DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == -1) {
            if (errno == ENOENT)
                continue;
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) == -1)
                return 1;
        } else {
            if (replay_file(argv[i]) == -1)
                return 1;
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input found\n");
        return 1;
    }
    printf("replay: %zu inputs, all passed\n", count);
    return 0;
}
