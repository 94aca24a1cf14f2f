/*
 * ctl_operators: see ctl_operators.h.
 */
#include "ctl/ctl_operators.h"

#include <stdio.h>
#include <openssl/crypto.h>

#include "base/fsutil.h"
#include "ctl/ctl_out.h"

int ctl_operators_list(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *answer = NULL, *op;
    size_t i;
    int rc = ctl_api(ctl, "GET", "/v1/operators", NULL, &answer);
    (void)args;

    if (rc == CTL_EXIT_OK && !ctl->json) {
        json_array_foreach(json_object_get(answer, "operators"), i, op)
        {
            fputs(json_is_true(json_object_get(op, "disabled")) ? "disabled " : "enabled  ",
                  ctl->out);
            fprintf(ctl->out, "%-9s%-9s", ctl_out_str(op, "role") ? ctl_out_str(op, "role") : "?",
                    ctl_out_str(op, "source") ? ctl_out_str(op, "source") : "?");
            ctl_out_put(ctl->out, ctl_out_str(op, "name"));
            fputc('\n', ctl->out);
        }
    }
    json_decref(answer);
    return rc;
}

/* POST /v1/operators/NAME/ACTION with no body. */
static int operator_post(struct ctl *ctl, const struct ctl_args *args, const char *action,
                         json_t **answer)
{
    char path[CTL_PATH_MAX], suffix[16];

    snprintf(suffix, sizeof(suffix), "/%s", action);
    if (ctl_path(path, sizeof(path), "/v1/operators/", args->pos[0], suffix) == -1)
        return ctl_usage(ctl, "the operator name is too long");
    return ctl_api(ctl, "POST", path, NULL, answer);
}

int ctl_operators_disable(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *answer = NULL;
    int rc = operator_post(ctl, args, "disable", &answer);

    if (rc == CTL_EXIT_OK && !ctl->json) {
        fputs("operator ", ctl->out);
        ctl_out_put(ctl->out, ctl_out_str(answer, "name"));
        fputs(" disabled: its token and certificate are refused from now on\n", ctl->out);
    }
    json_decref(answer);
    return rc;
}

int ctl_operators_rotate(struct ctl *ctl, const struct ctl_args *args)
{
    const char *token_out = ctl_args_get(args, "token-out");
    json_t *answer = NULL;
    struct jerr err = {0};
    int rc;

    /* The old token stops working when the service answers: check the file first. */
    if (token_out != NULL && fsutil_exists(token_out))
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s exists: give a new file for the token",
                        token_out);
    if ((rc = operator_post(ctl, args, "rotate", &answer)) != CTL_EXIT_OK)
        goto out;
    const char *token = ctl_out_str(answer, "token");
    if (token == NULL) {
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer holds no token");
        goto out;
    }
    if (token_out != NULL) {
        char line[CTL_HTTP_MAX_TOKEN + 2];
        int n = snprintf(line, sizeof(line), "%s\n", token);
        if (n < 0 || (size_t)n >= sizeof(line))
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the token is over %d bytes", CTL_HTTP_MAX_TOKEN);
        else if (fsutil_write_atomic(token_out, line, (size_t)n, 0600, true, &err) == -1)
            /* The only copy of the new token: say it, so that it is not lost. */
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s (%s); the new token is %s",
                          token_out, err.msg, token);
        OPENSSL_cleanse(line, sizeof(line));
    }
    if (!ctl->json && rc == CTL_EXIT_OK) {
        fputs("operator ", ctl->out);
        ctl_out_put(ctl->out, ctl_out_str(answer, "name"));
        fputs(": token rotated; the old one is refused from now on\n", ctl->out);
        ctl_out_new_token(ctl->out, token_out, token);
    }
out:
    json_decref(answer);
    return rc;
}
