/*
 * ctl_operators: see ctl_operators.h.
 */
#include "ctl/ctl_operators.h"

#include <stdio.h>
#include <openssl/crypto.h>

#include "base/fsutil.h"
#include "ctl/ctl_out.h"

/* "operator NAME<what>\n" on the output, the name from the answer, sanitized. */
static void operator_said(struct ctl *ctl, const json_t *answer, const char *what)
{
    fputs("operator ", ctl->out);
    ctl_out_put(ctl->out, ctl_out_str(answer, "name"));
    fputs(what, ctl->out);
}

int ctl_operators_add(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *body = NULL, *answer = NULL;
    const char *token_out = ctl_args_get(args, "token-out");
    struct jerr err = {0};
    int rc;
    body = json_pack("{s:s, s:s}", "name", ctl_args_get(args, "name"), "role",
                     ctl_args_get(args, "role"));
    if (body == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot build the request (text not UTF-8?)");
    if ((rc = ctl_api(ctl, "POST", "/v1/operators", body, &answer)) != CTL_EXIT_OK)
        goto out;
    const char *token = ctl_out_str(answer, "token");
    if (token_out != NULL && token == NULL)
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the answer holds no token");
    else if (token_out != NULL && ctl_out_write_token(token_out, token, &err) == -1)
        rc = err.code == JERR_TOO_LARGE
                 ? ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg)
                 : ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s: %s", token_out, err.msg);
    if (!ctl->json && rc == CTL_EXIT_OK) {
        const char *role = ctl_out_str(answer, "role");
        char shown[64], what[96];
        snprintf(what, sizeof(what), " (%s) created\n",
                 role != NULL ? ctl_out_shown(role, shown, sizeof(shown)) : "-");
        operator_said(ctl, answer, what);
        ctl_out_new_token(ctl->out, token_out, token);
    }
out:
    json_decref(body);
    json_decref(answer);
    return rc;
}

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
    char suffix[16];

    snprintf(suffix, sizeof(suffix), "/%s", action);
    return ctl_api_id(ctl, "POST", "/v1/operators/", args->pos[0], suffix, "the operator name",
                      NULL, answer);
}

int ctl_operators_disable(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *answer = NULL;
    int rc = operator_post(ctl, args, "disable", &answer);

    if (rc == CTL_EXIT_OK && !ctl->json)
        operator_said(ctl, answer,
                      " disabled: its token and certificate are refused from now on\n");
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
    if (token_out != NULL && ctl_out_write_token(token_out, token, &err) == -1)
        /* The only copy of the new token: say it, so that it is not lost. */
        rc = err.code == JERR_TOO_LARGE
                 ? ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg)
                 : ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s (%s); the new token is %s",
                            token_out, err.msg, token);
    if (!ctl->json && rc == CTL_EXIT_OK) {
        operator_said(ctl, answer, ": token rotated; the old one is refused from now on\n");
        ctl_out_new_token(ctl->out, token_out, token);
    }
out:
    json_decref(answer);
    return rc;
}
