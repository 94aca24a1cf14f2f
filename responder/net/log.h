/*
 * log: the service's one log channel — one line per event to stderr (or to a sink a test
 * installs): "2026-01-02T03:04:05Z LEVEL message". Lines are written with a single write(2),
 * so lines of concurrent threads never interleave.
 *
 * What goes in: start, stop, bound addresses, and each error with its cause. What never goes in:
 * request bodies, tokens, keys, passphrases, personal data. Every byte outside printable ASCII
 * in a message is escaped (\xNN), so outside bytes cannot forge lines.
 */
#ifndef JPKI_LOG_H
#define JPKI_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2 };

/* Maximum length of one formatted line, newline included; longer messages are cut. */
#define LOG_LINE_MAX 1024

/* Receives each finished line (no trailing newline). */
typedef void log_sink_fn(void *arg, enum log_level level, const char *line);

/* Routes lines to `sink` (NULL = stderr). Process-wide: set from main or a test before threads
 * start, never concurrently with logging. */
void log_set_sink(log_sink_fn *sink, void *arg);

/* Logs one line at `level`. Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)

/* "ERROR", "WARN", "INFO" */
const char *log_level_name(enum log_level level);

#endif
