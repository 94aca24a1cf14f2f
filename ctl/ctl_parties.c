/*
 * ctl_parties: see ctl_parties.h. Credentials in an answer are written to the files asked for
 * (0600, never over an existing file) or else printed once.
 */
#include "ctl/ctl_parties.h"

#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "ctl/ctl_out.h"

#define CTL_PARTIES_CSR_MAX 8192

static void party_print(FILE *f, const json_t *p)
{
    ctl_out_field(f, "id", ctl_out_str(p, "id"));
    ctl_out_field(f, "name", ctl_out_str(p, "name"));
    ctl_out_field(f, "kind", ctl_out_str(p, "kind"));
    ctl_out_field(f, "contact", ctl_out_str(p, "contact"));
    ctl_out_field(f, "state", ctl_out_str(p, "state"));
    ctl_out_field(f, "certificate serial", ctl_out_str(p, "certificate_serial"));
    ctl_out_field(f, "certificate until", ctl_out_str(p, "certificate_not_after"));
    ctl_out_field(f, "created", ctl_out_str(p, "created_at"));
}

/* Writes the PEM `text` of the answer's `key` to `path` (0600, exclusive), or prints it. */
static int credential_out(struct ctl *ctl, const json_t *answer, const char *key, const char *path)
{
    const char *text = ctl_out_str(answer, key);
    struct jerr err = {0};
    if (text == NULL)
        return CTL_EXIT_OK;
    if (path == NULL) {
        fputs(text, ctl->out);
        return CTL_EXIT_OK;
    }
    if (fsutil_write_atomic(path, text, strlen(text), 0600, true, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s: %s", path, err.msg);
    fprintf(ctl->out, "%s written to %s\n", key, path);
    return CTL_EXIT_OK;
}

int ctl_parties_add(struct ctl *ctl, const struct ctl_args *args)
{
    const char *csr_path = ctl_args_get(args, "csr"), *token_out = ctl_args_get(args, "token-out");
    unsigned char *csr = NULL;
    size_t csr_len = 0;
    json_t *body = NULL, *answer = NULL;
    struct jerr err = {0};
    int rc;

    for (int i = 0; i < 3; i++) { /* check the files first: the credentials are shown once */
        const char *out =
            ctl_args_get(args, (const char *[]){"cert-out", "key-out", "token-out"}[i]);
        if (out != NULL && fsutil_exists(out))
            return ctl_fail(ctl, CTL_EXIT_FAILED, "%s exists: give a new file", out);
    }
    if (csr_path != NULL &&
        fsutil_read_file(csr_path, CTL_PARTIES_CSR_MAX, &csr, &csr_len, &err) == -1)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "--csr: %s", err.msg);
    body = json_pack("{s:s, s:s, s:s, s:s}", "id", args->pos[0], "name", ctl_args_get(args, "name"),
                     "kind", ctl_args_get(args, "kind"), "contact", ctl_args_get(args, "contact"));
    if (body != NULL && csr != NULL)
        json_object_set_new(body, "csr", json_stringn((const char *)csr, csr_len));
    free(csr);
    if (body == NULL)
        return ctl_fail(ctl, CTL_EXIT_FAILED, "cannot build the request (text not UTF-8?)");
    if ((rc = ctl_api(ctl, "POST", "/v1/relying-parties", body, &answer)) != CTL_EXIT_OK ||
        ctl->json)
        goto out;
    fputs("relying party ", ctl->out);
    ctl_out_put(ctl->out, ctl_out_str(answer, "id"));
    fputs(" registered\n", ctl->out);
    if ((rc = credential_out(ctl, answer, "certificate", ctl_args_get(args, "cert-out"))) !=
            CTL_EXIT_OK ||
        (rc = credential_out(ctl, answer, "key", ctl_args_get(args, "key-out"))) != CTL_EXIT_OK)
        goto out;
    const char *token = ctl_out_str(answer, "token");
    if (token_out != NULL && token != NULL && ctl_out_write_token(token_out, token, &err) == -1)
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot write %s: %s", token_out, err.msg);
    else
        ctl_out_new_token(ctl->out, token_out, token);
out:
    json_decref(body);
    json_decref(answer);
    return rc;
}

int ctl_parties_list(struct ctl *ctl, const struct ctl_args *args)
{
    json_t *answer = NULL, *p;
    size_t i;
    int rc = ctl_api(ctl, "GET", "/v1/relying-parties", NULL, &answer);
    (void)args;
    if (rc == CTL_EXIT_OK && !ctl->json) {
        json_array_foreach(json_object_get(answer, "relying_parties"), i, p)
        {
            const char *state = ctl_out_str(p, "state"), *kind = ctl_out_str(p, "kind");
            fprintf(ctl->out, "%-10s%-15s", state != NULL ? state : "?", kind != NULL ? kind : "?");
            ctl_out_put(ctl->out, ctl_out_str(p, "id"));
            fputc('\n', ctl->out);
        }
    }
    json_decref(answer);
    return rc;
}

int ctl_parties_show(struct ctl *ctl, const struct ctl_args *args)
{
    return ctl_api_show(ctl, "/v1/relying-parties/", args->pos[0], party_print);
}

/* METHOD /v1/relying-parties/ID[SUFFIX], the party's record printed. */
static int party_change(struct ctl *ctl, const struct ctl_args *args, const char *method,
                        const char *suffix)
{
    json_t *answer = NULL;
    int rc = ctl_api_id(ctl, method, "/v1/relying-parties/", args->pos[0], suffix, "the id", NULL,
                        &answer);
    if (rc == CTL_EXIT_OK && !ctl->json)
        party_print(ctl->out, answer);
    json_decref(answer);
    return rc;
}

int ctl_parties_suspend(struct ctl *ctl, const struct ctl_args *args)
{
    return party_change(ctl, args, "POST", "/suspend");
}

int ctl_parties_resume(struct ctl *ctl, const struct ctl_args *args)
{
    return party_change(ctl, args, "POST", "/resume");
}

int ctl_parties_delete(struct ctl *ctl, const struct ctl_args *args)
{
    return party_change(ctl, args, "DELETE", NULL);
}

int ctl_parties_usage(struct ctl *ctl, const struct ctl_args *args)
{
    const char *month = ctl_args_get(args, "month");
    char suffix[32];
    json_t *answer = NULL, *day, *cas;
    const char *d;
    if (month != NULL && (strlen(month) != 7 || strspn(month, "0123456789-") != 7))
        return ctl_usage(ctl, "--month: expected YYYY-MM");
    snprintf(suffix, sizeof(suffix), "/usage%s%s", month != NULL ? "?month=" : "",
             month != NULL ? month : "");
    int rc = ctl_api_id(ctl, "GET", "/v1/relying-parties/", args->pos[0], suffix, "the id", NULL,
                        &answer);
    if (rc == CTL_EXIT_OK && !ctl->json) {
        json_t *calls = json_object_get(answer, "calls"),
               *distinct = json_object_get(answer, "distinct_certificates");
        ctl_out_field(ctl->out, "month", ctl_out_str(answer, "month"));
        fprintf(ctl->out, "%-20s%" JSON_INTEGER_FORMAT "\n",
                "OCSP calls:", json_integer_value(json_object_get(calls, "ocsp")));
        fprintf(ctl->out, "%-20s%" JSON_INTEGER_FORMAT "\n",
                "CRL downloads:", json_integer_value(json_object_get(calls, "crl")));
        fprintf(ctl->out, "%-20ssign %" JSON_INTEGER_FORMAT ", auth %" JSON_INTEGER_FORMAT "\n",
                "distinct certs:", json_integer_value(json_object_get(distinct, "sign")),
                json_integer_value(json_object_get(distinct, "auth")));
        json_object_foreach(json_object_get(answer, "calls_by_day"), d, day)
        {
            const char *ca;
            json_object_foreach(day, ca, cas)
            {
                fprintf(ctl->out,
                        "  %.10s %-4.4s ocsp %" JSON_INTEGER_FORMAT " crl %" JSON_INTEGER_FORMAT
                        "\n",
                        d, ca, json_integer_value(json_object_get(cas, "ocsp")),
                        json_integer_value(json_object_get(cas, "crl")));
            }
        }
    }
    json_decref(answer);
    return rc;
}
