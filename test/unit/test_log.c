/* Unit tests of responder/net/log.c: line format, escaping of outside bytes, the length cap,
 * whole lines from concurrent threads, and the same on stderr (the path without a sink). */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "responder/net/log.h"
#include "testutil.h"

static char lines[512][LOG_LINE_MAX + 1];
static enum log_level levels[512];
static int count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void sink(void *arg, enum log_level level, const char *line)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    if (count < 512) {
        snprintf(lines[count], sizeof(lines[count]), "%s", line);
        levels[count++] = level;
    }
    pthread_mutex_unlock(&lock);
}

static void setup(void)
{
    count = 0;
    log_set_sink(sink, NULL);
}

static void teardown(void)
{
    log_set_sink(NULL, NULL);
}

START_TEST(test_format)
{
    log_warn("disk %s at %d%%", "var", 95);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(levels[0], LOG_LEVEL_WARN);
    /* "YYYY-MM-DDTHH:MM:SSZ LEVEL message" */
    ck_assert_uint_ge(strlen(lines[0]), 21);
    ck_assert(lines[0][4] == '-' && lines[0][10] == 'T' && lines[0][19] == 'Z');
    ck_assert_str_eq(lines[0] + 21, "WARN disk var at 95%");
    ck_assert_str_eq(log_level_name(LOG_LEVEL_ERROR), "ERROR");
    ck_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "INFO");
}
END_TEST

START_TEST(test_outside_bytes_cannot_forge_lines)
{
    log_info("path %s", "/x\n2026-01-01T00:00:00Z ERROR forged");
    ck_assert_int_eq(count, 1);
    ck_assert_ptr_null(strchr(lines[0], '\n'));
    ck_assert_ptr_nonnull(strstr(lines[0], "\\x0a"));
}
END_TEST

START_TEST(test_long_message_is_cut)
{
    static char big[4 * LOG_LINE_MAX];
    memset(big, 'a', sizeof(big) - 1);
    log_error("%s", big);
    ck_assert_int_eq(count, 1);
    ck_assert_uint_lt(strlen(lines[0]), LOG_LINE_MAX);
}
END_TEST

static void *spam(void *arg)
{
    for (int i = 0; i < 50; i++)
        log_info("thread %d line %d", *(int *)arg, i);
    return NULL;
}

START_TEST(test_threads)
{
    pthread_t t[4];
    int ids[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, spam, &ids[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(count, 200);
    for (int i = 0; i < count; i++) {
        int th, ln;
        ck_assert_int_eq(sscanf(lines[i] + 21, "INFO thread %d line %d", &th, &ln), 2);
    }
}
END_TEST

/* The production path (no sink): each line reaches stderr whole, newline-terminated, within
 * LOG_LINE_MAX bytes, with bytes outside printable ASCII escaped. */
START_TEST(test_stderr_lines)
{
    static char big[4 * LOG_LINE_MAX];
    char path[] = "/tmp/jpki-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    log_set_sink(NULL, NULL);
    log_info("name \xe5\xb1\xb1\xe7\x94\xb0 tab\there");
    memset(big, 'b', sizeof(big) - 1);
    log_error("%s", big);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);

    char out[4 * LOG_LINE_MAX];
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ssize_t n = read(fd, out, sizeof(out) - 1);
    close(fd);
    unlink(path);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    char *first = out, *nl = strchr(first, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = '\0';
    ck_assert_str_eq(first + 21, "INFO name \\xe5\\xb1\\xb1\\xe7\\x94\\xb0 tab\\x09here");
    char *second = nl + 1;
    nl = strchr(second, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_le((size_t)(nl - second) + 1, LOG_LINE_MAX); /* newline included */
    ck_assert_int_eq(strncmp(second + 21, "ERROR bbb", 9), 0);
    ck_assert_str_eq(nl + 1, ""); /* two lines, nothing else */
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_outside_bytes_cannot_forge_lines);
    tcase_add_test(tc, test_long_message_is_cut);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_stderr_lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(log_suite());
}
