/*
 * log: see log.h. Formats into a stack buffer, escapes, and hands the finished line to the
 * sink (stderr by default) in one call, so no lock is needed.
 */
#include "responder/net/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/jclock.h"
#include "base/jerr.h"

static log_sink_fn *log_sink;
static void *log_sink_arg;

void log_set_sink(log_sink_fn *sink, void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "ERROR";
    case LOG_LEVEL_WARN:
        return "WARN";
    default:
        return "INFO";
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char raw[LOG_LINE_MAX], escaped[LOG_LINE_MAX], line[LOG_LINE_MAX + 1], stamp[32];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(raw, sizeof(raw), "(unformattable log message)");
    jerr_escape(escaped, sizeof(escaped), raw, strlen(raw));
    /* Real time, not jclock: a pinned test clock must not make log lines lie. */
    jclock_format(time(NULL), stamp, sizeof(stamp));
    int len = snprintf(line, sizeof(line) - 1, "%s %s %s", stamp, log_level_name(level), escaped);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line) - 1)
        len = (int)sizeof(line) - 2;
    if (log_sink != NULL) {
        line[len] = '\0';
        log_sink(log_sink_arg, level, line);
        return;
    }
    line[len] = '\n';
    ssize_t written = write(STDERR_FILENO, line, (size_t)len + 1);
    (void)written; /* nowhere to report a failed log write */
}
