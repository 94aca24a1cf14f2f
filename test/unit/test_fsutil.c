/*
 * test_fsutil: the shared file primitives (base/fsutil.c). The atomic write is checked for
 * what its callers (key files, card images, CRLs, the admin token) rely on: exact bytes and
 * mode whatever the umask, no temp file left behind on success or failure, an exclusive write
 * that never replaces anything (a file, a dangling link), and the error codes callers map.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "testutil.h"

/* The names in the test directory, sorted and joined with spaces. */
static void dir_listing(char *out, size_t size)
{
    struct dirent **list;
    int n = scandir(testutil_tmpdir, &list, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
            if (out[0] != '\0')
                strncat(out, " ", size - strlen(out) - 1);
            strncat(out, list[i]->d_name, size - strlen(out) - 1);
        }
        free(list[i]);
    }
    free(list);
}

static void assert_listing(const char *want)
{
    char got[1024];
    dir_listing(got, sizeof(got));
    ck_assert_str_eq(got, want);
}

static void assert_file(const char *path, const char *content, mode_t mode)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct jerr err = {0};
    ck_assert_int_eq(fsutil_read_file(path, 4096, &data, &len, &err), 0);
    ck_assert_uint_eq(len, strlen(content));
    ck_assert_mem_eq(data, content, len);
    ck_assert_int_eq(data[len], '\0');
    free(data);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, mode);
}

START_TEST(write_atomic_creates_and_replaces)
{
    struct jerr err = {0};
    char path[4096];
    testutil_path(path, sizeof(path), "out.txt");
    mode_t old_umask = umask(077); /* the mode asked for wins over the umask, both ways */
    ck_assert_int_eq(fsutil_write_atomic(path, "first", 5, 0644, false, &err), 0);
    assert_file(path, "first", 0644);
    umask(0);
    ck_assert_int_eq(fsutil_write_atomic(path, "second!", 7, 0600, false, &err), 0);
    umask(old_umask);
    assert_file(path, "second!", 0600);
    ck_assert_int_eq(err.code, JERR_NONE);
    /* An empty file is a file too. */
    ck_assert_int_eq(fsutil_write_atomic(path, "", 0, 0600, false, &err), 0);
    assert_file(path, "", 0600);
    assert_listing("out.txt"); /* no temp file left */
}
END_TEST

START_TEST(write_temp_stages_and_names_its_file)
{
    struct jerr err = {0};
    char path[4096], tmp[4096];
    const char *slash;
    testutil_path(path, sizeof(path), "C-1.card");
    ck_assert_int_eq(fsutil_write_temp(path, "image", 5, 0600, tmp, sizeof(tmp), &err), 0);
    /* Written and fsync'd under its own name; the file's place stays empty until published. */
    ck_assert(!fsutil_exists(path));
    assert_file(tmp, "image", 0600);
    slash = strrchr(tmp, '/');
    ck_assert(fsutil_is_temp_of(slash + 1, ".card"));
    ck_assert(!fsutil_is_temp_of(slash + 1, ".pin.p7m"));
    ck_assert_int_eq(fsutil_publish(tmp, path, &err), 0);
    assert_file(path, "image", 0600);
    assert_listing("C-1.card");
    /* Final names and look-alikes are not temp files. */
    ck_assert(!fsutil_is_temp_of("C-1.card", ".card"));
    ck_assert(!fsutil_is_temp_of("x.card.tmp-0123456789ab.card", ".card"));
    ck_assert(!fsutil_is_temp_of("x.card.tmp-0123456789AB", ".card"));
    ck_assert(!fsutil_is_temp_of("x.card.tmp-0123456789a", ".card"));
    ck_assert(!fsutil_is_temp_of(".card.tmp-0123456789ab", ".card"));
    ck_assert(fsutil_is_temp_of("x.pin.p7m.tmp-0123456789ab", ".pin.p7m"));
    /* A directory that cannot take the file: nothing left, the cause named. */
    testutil_path(path, sizeof(path), "missing/C-2.card");
    ck_assert_int_eq(fsutil_write_temp(path, "image", 5, 0600, tmp, sizeof(tmp), &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    assert_listing("C-1.card");
}
END_TEST

START_TEST(write_atomic_exclusive_never_replaces)
{
    struct jerr err = {0};
    char path[4096], link_path[4096], target[4096];
    testutil_path(path, sizeof(path), "key.pem");
    ck_assert_int_eq(fsutil_write_atomic(path, "key", 3, 0600, true, &err), 0);
    assert_file(path, "key", 0600);

    ck_assert_int_eq(fsutil_write_atomic(path, "other", 5, 0600, true, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "already exists"));
    assert_file(path, "key", 0600);

    /* A dangling link is not followed: its target is not created, the link stays. */
    testutil_path(link_path, sizeof(link_path), "link.pem");
    testutil_path(target, sizeof(target), "target.pem");
    ck_assert_int_eq(symlink(target, link_path), 0);
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_write_atomic(link_path, "x", 1, 0600, true, &err), -1);
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert(!fsutil_exists(target));
    assert_listing("key.pem link.pem");
}
END_TEST

START_TEST(write_atomic_failures_leave_nothing)
{
    struct jerr err = {0};
    char path[4096], want[4200];
    testutil_path(path, sizeof(path), "no-such-dir/out.txt");
    ck_assert_int_eq(fsutil_write_atomic(path, "x", 1, 0600, false, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file or directory"));
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_write_atomic(path, "x", 1, 0600, true, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);

    /* A directory in the way of a rename: refused, and the temp file is removed. */
    testutil_path(path, sizeof(path), "sub");
    ck_assert_int_eq(mkdir(path, 0700), 0);
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_write_atomic(path, "x", 1, 0600, false, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    snprintf(want, sizeof(want), "rename %s: Is a directory", path);
    ck_assert_str_eq(err.msg, want);
    assert_listing("sub");

    /* A path too long for a temp name beside it (the message, path first, is cut). */
    char long_path[PATH_MAX + 16];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_write_atomic(long_path, "x", 1, 0600, false, &err), -1);
    ck_assert_int_eq(err.code, JERR_IO);
    ck_assert_int_eq(strncmp(err.msg, long_path, 100), 0);
    assert_listing("sub");
}
END_TEST

START_TEST(read_file_bounds)
{
    struct jerr err = {0};
    char path[4096];
    unsigned char *data = (unsigned char *)&err;
    size_t len = 77;
    testutil_path(path, sizeof(path), "missing");
    ck_assert_int_eq(fsutil_read_file(path, 10, &data, &len, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_ptr_eq(data, (unsigned char *)&err); /* outputs only on success */
    ck_assert_uint_eq(len, 77);

    testutil_path(path, sizeof(path), "ten");
    ck_assert_int_eq(testutil_write_file(path, "0123456789", 10), 0);
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_read_file(path, 10, &data, &len, &err), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_str_eq((char *)data, "0123456789");
    free(data);
    ck_assert_int_eq(fsutil_read_file(path, 9, &data, &len, &err), -1);
    ck_assert_int_eq(err.code, JERR_TOO_LARGE);
}
END_TEST

START_TEST(dirs_and_modes)
{
    struct jerr err = {0};
    char path[4096], file[4096];
    testutil_path(path, sizeof(path), "a/b/c");
    ck_assert_int_eq(fsutil_mkdirs(path, 0700, &err), 0);
    ck_assert_int_eq(fsutil_mkdirs(path, 0700, &err), 0); /* already there: fine */
    ck_assert(fsutil_exists(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(fsutil_sync_parent(path, &err), 0);

    snprintf(file, sizeof(file), "%s/secret", path);
    ck_assert_int_eq(fsutil_write_atomic(file, "s", 1, 0600, true, &err), 0);
    ck_assert_int_eq(fsutil_check_private(file, &err), 0);
    static const mode_t open_modes[] = {0640, 0604, 0610, 0601, 0700};
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        char want[4200];
        ck_assert_int_eq(chmod(file, open_modes[i]), 0);
        jerr_clear(&err);
        int rc = fsutil_check_private(file, &err);
        if ((open_modes[i] & 077) == 0) {
            ck_assert_int_eq(rc, 0);
            continue;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert_int_eq(err.code, JERR_IO);
        snprintf(want, sizeof(want), "%s: mode %04o is too open; must be 0600", file,
                 (unsigned)open_modes[i]);
        ck_assert_str_eq(err.msg, want);
    }
    testutil_path(file, sizeof(file), "nothing");
    jerr_clear(&err);
    ck_assert_int_eq(fsutil_check_private(file, &err), -1);
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert(!fsutil_exists(file));
}
END_TEST

static Suite *fsutil_suite(void)
{
    Suite *s = suite_create("fsutil");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, testutil_tmpdir_setup, testutil_tmpdir_teardown);
    tcase_add_test(tc, write_atomic_creates_and_replaces);
    tcase_add_test(tc, write_atomic_exclusive_never_replaces);
    tcase_add_test(tc, write_temp_stages_and_names_its_file);
    tcase_add_test(tc, write_atomic_failures_leave_nothing);
    tcase_add_test(tc, read_file_bounds);
    tcase_add_test(tc, dirs_and_modes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(fsutil_suite());
}
