/*
 * ctl_batch: see ctl_batch.h. The progress read is the same GET that `batch show` makes; the
 * drawing is a pure function of the counts so that its exact text is tested without a terminal.
 */
#include "ctl/ctl_batch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/limits.h"
#include "ctl/ctl_out.h"

void ctl_batch_bar(char *out, size_t size, long finished, long failed, long total, int width)
{
    char cells[CTL_BATCH_BAR_MAX * 4 + 1];
    long filled;
    if (width < 1)
        width = 1;
    if (width > (int)sizeof(cells) - 1)
        width = (int)sizeof(cells) - 1;
    if (total <= 0)
        filled = width;
    else if (finished <= 0)
        filled = 0;
    else if (finished >= total)
        filled = width;
    else
        filled = (long)((long long)finished * width / total);
    for (int i = 0; i < width; i++)
        cells[i] = i < filled ? '#' : '-';
    cells[width] = '\0';
    /* done and failed apart: a failed row is finished, not done */
    snprintf(out, size, "[%s] %ld/%ld finished: %ld done, %ld failed", cells, finished, total,
             finished - failed > 0 ? finished - failed : 0, failed);
}

/* A non-negative integer member, or -1 when absent or of another type. */
static long count_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (long)json_integer_value(v);
}

int ctl_batch_counts(const json_t *progress, struct ctl_batch_counts *out)
{
    long total = count_of(progress, "total"), done = count_of(progress, "done");
    long failed = count_of(progress, "failed"), pending = count_of(progress, "pending");
    const char *state = ctl_out_str(progress, "state");
    if (total < 0 || failed < 0 || (pending < 0 && done < 0))
        return -1;
    out->total = total;
    out->failed = failed;
    out->finished = pending >= 0 ? total - pending : done + failed;
    if (out->finished < 0)
        out->finished = 0;
    out->done = state != NULL && strcmp(state, "done") == 0;
    return 0;
}

const char *ctl_batch_content_type(const char *path, const char *data, size_t len)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL) {
        if (strcasecmp(dot, ".json") == 0)
            return "application/json";
        if (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0)
            return "application/yaml";
    }
    for (size_t i = 0; i < len; i++) { /* as batch_parse's BATCH_AUTO reads it */
        if (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')
            continue;
        return data[i] == '{' ? "application/json" : "application/yaml";
    }
    return "application/yaml";
}

/* An id or row number as text (the API may send either type). */
static const char *scalar_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* Is row `row` (a progress row's "row") one of the submission's problems? The service records
 * a row refused at submission as a failed row too (docs/API.md): it is listed once. */
static bool is_problem_row(const json_t *problems, const json_t *row)
{
    size_t i;
    const json_t *v;
    if (!json_is_integer(row))
        return false;
    json_array_foreach(problems, i, v)
    {
        const json_t *n = json_object_get(v, "row");
        if (json_is_integer(n) && json_integer_value(n) == json_integer_value(row))
            return true;
    }
    return false;
}

size_t ctl_batch_summary(FILE *f, const json_t *submitted, const json_t *progress)
{
    const json_t *problems = json_object_get(submitted, "problems");
    const json_t *rows = json_object_get(progress, "rows");
    const json_t *src = progress != NULL ? progress : submitted;
    struct ctl_batch_counts c = {0};
    char num[32], words[CTL_OUT_LINE_MAX];
    size_t listed = 0, i;
    const json_t *v;

    fputs("batch ", f);
    ctl_out_put(f, ctl_out_str(src, "key"));
    fputs(" (id ", f);
    ctl_out_put(f, scalar_text(json_object_get(src, "id"), num, sizeof(num)));
    fputs("): ", f);
    if (progress != NULL && ctl_batch_counts(progress, &c) == 0)
        fprintf(f, "%ld rows, %ld done, %ld failed", c.total, c.finished - c.failed, c.failed);
    else
        fprintf(f, "%ld rows accepted", count_of(submitted, "accepted"));
    if (submitted != NULL)
        fprintf(f, ", %zu refused at submission", json_array_size(problems));
    fputc('\n', f);
    json_array_foreach(problems, i, v)
    {
        fputs("  row ", f);
        ctl_out_put(f, scalar_text(json_object_get(v, "row"), num, sizeof(num)));
        fputs(": ", f);
        /* BATCH.md: the message starts with the field's path; name the field only otherwise */
        const char *field = ctl_out_str(v, "field");
        const char *message = ctl_out_str(v, "message");
        ctl_out_put(f, message);
        if (field != NULL && field[0] != '\0' &&
            (message == NULL || strncmp(message, field, strlen(field)) != 0)) {
            fputs(" (field: ", f);
            ctl_out_put(f, field);
            fputc(')', f);
        }
        fputc('\n', f);
        listed++;
    }
    json_array_foreach(rows, i, v)
    {
        const json_t *error = json_object_get(v, "error");
        const char *state = ctl_out_str(v, "state");
        if (!json_is_object(error) && (state == NULL || strcmp(state, "failed") != 0))
            continue;
        if (is_problem_row(problems, json_object_get(v, "row")))
            continue; /* listed above */
        fputs("  row ", f);
        ctl_out_put(f, scalar_text(json_object_get(v, "row"), num, sizeof(num)));
        fputs(" (key ", f);
        ctl_out_put(f, ctl_out_str(v, "key"));
        ctl_out_error_obj(words, sizeof(words), error);
        fprintf(f, "): %s\n", words); /* ctl_out_error_obj sanitized it */
        listed++;
    }
    return listed;
}

/* GET /v1/batches/{id}, without printing the answer. Returns an exit code. */
static int read_progress(struct ctl *ctl, const char *path, json_t **progress)
{
    bool json = ctl->json;
    int rc;
    ctl->json = false;
    rc = ctl_api(ctl, "GET", path, NULL, progress);
    ctl->json = json;
    return rc;
}

/* Cells of the bar that fit the terminal beside `text_len` bytes of counts. */
static int bar_width(FILE *out, size_t text_len)
{
    struct winsize ws;
    int width = CTL_BATCH_BAR_MAX;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        int room = (int)ws.ws_col - (int)text_len - 4;
        width = room < width ? room : width;
    }
    return width < CTL_BATCH_BAR_MIN ? CTL_BATCH_BAR_MIN : width;
}

/* Follows the batch at `path` until it is done. *progress is the last answer. */
static int follow(struct ctl *ctl, const char *path, json_t **progress)
{
    bool tty = !ctl->json && isatty(fileno(ctl->out));
    struct ctl_batch_counts c, last = {-1, -1, -1, false};
    char line[CTL_BATCH_BAR_MAX * 4 + 96];
    size_t drawn = 0;
    int rc;

    *progress = NULL;
    for (;;) {
        json_decref(*progress);
        *progress = NULL;
        if ((rc = read_progress(ctl, path, progress)) != CTL_EXIT_OK)
            break;
        if (ctl_batch_counts(*progress, &c) == -1) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the progress answer has no counts");
            break;
        }
        if (tty) {
            /* the width for the longest counts this batch can show, so the bar never jitters */
            char widest[96];
            int n = snprintf(widest, sizeof(widest), "%ld/%ld finished: %ld done, %ld failed",
                             c.total, c.total, c.total, c.total);
            ctl_batch_bar(line, sizeof(line), c.finished, c.failed, c.total,
                          bar_width(ctl->out, n > 0 ? (size_t)n : 0));
            size_t len = strlen(line);
            /* redraw in place; blank what a longer previous line left behind */
            fprintf(ctl->out, "\r%s%*s", line, drawn > len ? (int)(drawn - len) : 0, "");
            drawn = len;
            fflush(ctl->out);
        } else if (!ctl->json && (c.finished != last.finished || c.failed != last.failed ||
                                  c.total != last.total)) {
            fprintf(ctl->out, "%ld/%ld finished: %ld done, %ld failed\n", c.finished, c.total,
                    c.finished - c.failed, c.failed);
            fflush(ctl->out);
        }
        last = c;
        if (c.done)
            break;
        struct timespec ts = {CTL_BATCH_POLL_MS / 1000, (CTL_BATCH_POLL_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (tty && drawn > 0)
        fputc('\n', ctl->out);
    return rc;
}

int ctl_batch_submit(struct ctl *ctl, const struct ctl_args *args)
{
    const char *file = args->pos[0];
    unsigned char *data = NULL;
    size_t len = 0;
    struct jerr err = {0};
    json_t *submitted = NULL, *progress = NULL;
    char path[CTL_PATH_MAX], num[32];
    int rc;

    if (fsutil_read_file(file, JPKI_HTTP_MAX_BATCH_BODY_BYTES, &data, &len, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
    rc =
        ctl_api_bytes(ctl, "POST", "/v1/batches",
                      ctl_batch_content_type(file, (const char *)data, len), data, len, &submitted);
    if (rc != CTL_EXIT_OK)
        goto out;
    const char *id = scalar_text(json_object_get(submitted, "id"), num, sizeof(num));
    if (id == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer names no batch id");
        goto out;
    }
    if (!ctl->json) {
        fputs("submitted batch ", ctl->out);
        ctl_out_put(ctl->out, ctl_out_str(submitted, "key"));
        fputs(" as id ", ctl->out);
        ctl_out_put(ctl->out, id);
        fprintf(ctl->out, ": %ld rows, %ld accepted\n", count_of(submitted, "total"),
                count_of(submitted, "accepted"));
    }
    if (!ctl_args_has(args, "no-wait")) {
        if (ctl_path(path, sizeof(path), "/v1/batches/", id, NULL) == -1) {
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the batch id is too long");
            goto out;
        }
        if ((rc = follow(ctl, path, &progress)) != CTL_EXIT_OK)
            goto out;
        if (ctl->json)
            ctl_out_json_line(ctl->out, progress);
    }
    FILE *f = ctl->json ? ctl->err : ctl->out;
    if (ctl_batch_summary(f, submitted, progress) > 0) {
        rc = CTL_EXIT_FAILED;
        fprintf(ctl->err, "jpkictl: %s: some rows were refused or failed\n", ctl->cmd_name);
    }
out:
    json_decref(progress);
    json_decref(submitted);
    free(data);
    return rc;
}

/* GET /v1/batches/ID in words: its state, progress bar, summary and rows. */
static void print_batch(FILE *f, const json_t *progress)
{
    struct ctl_batch_counts c;
    char line[CTL_BATCH_BAR_MAX * 4 + 96];
    const json_t *rows = json_object_get(progress, "rows");
    size_t i;
    const json_t *v;
    fputs("state: ", f);
    ctl_out_put(f, ctl_out_str(progress, "state"));
    fputc('\n', f);
    if (ctl_batch_counts(progress, &c) == 0) {
        ctl_batch_bar(line, sizeof(line), c.finished, c.failed, c.total, CTL_BATCH_BAR_MAX);
        fprintf(f, "%s\n", line);
    }
    ctl_batch_summary(f, NULL, progress);
    fprintf(f, "rows (%zu):\n", json_array_size(rows));
    json_array_foreach(rows, i, v)
    {
        char num[32];
        fputs("  row ", f);
        ctl_out_put(f, scalar_text(json_object_get(v, "row"), num, sizeof(num)));
        fputs("  ", f);
        ctl_out_put(f, ctl_out_str(v, "key"));
        fputs("  ", f);
        ctl_out_put(f, ctl_out_str(v, "state"));
        fputs("  ", f);
        ctl_out_list(f, v, "serials");
        fputc('\n', f);
    }
}

int ctl_batch_show(struct ctl *ctl, const struct ctl_args *args)
{
    return ctl_api_show(ctl, "/v1/batches/", args->pos[0], print_batch);
}
