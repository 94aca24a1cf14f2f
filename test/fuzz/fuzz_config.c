/*
 * fuzz_config: the configuration file (config_load_string, config/config.h) on the bytes as
 * YAML, with no --set overrides. A refusal fills err (JERR_CONFIG or JERR_INVALID, naming the
 * key); an accepted configuration is within the ranges the schema states. Seeds:
 * config/jpki.example.yaml and variants, valid and refused.
 */
#include <string.h>

#include "config/config.h"
#include "base/limits.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jerr err = {0};
    struct jpki_config *cfg =
        config_load_string("fuzz.yaml", (const char *)data, size, NULL, 0, &err);
    if (cfg == NULL) {
        FUZZ_CHECK(err.code != JERR_NONE);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(err.code == JERR_NONE);
    FUZZ_CHECK(cfg->data_dir != NULL && cfg->public_url != NULL);
    for (int i = 0; i < CA_KIND_COUNT; i++) {
        const struct config_ca *ca = &cfg->ca[i];
        FUZZ_CHECK(ca->key_bits >= 2048 && ca->key_bits <= 8192);
        FUZZ_CHECK(ca->crl_partitions >= 1 && ca->crl_partitions <= 4096);
        FUZZ_CHECK(ca->root_validity_years >= 1 && ca->root_validity_years <= 30);
        FUZZ_CHECK(ca->ocsp_signer_validity_days >= 1 && ca->ocsp_signer_validity_days <= 3650);
        FUZZ_CHECK(ca->subject != NULL && ca->crl_url != NULL && ca->ocsp_url != NULL);
    }
    /* Exactly one source of the CA passphrase. */
    FUZZ_CHECK(cfg->passphrase_env != NULL && cfg->passphrase_file != NULL);
    FUZZ_CHECK((cfg->passphrase_env[0] != '\0') != (cfg->passphrase_file[0] != '\0'));
    FUZZ_CHECK(cfg->crl_next_update_s > cfg->crl_period_s);
    FUZZ_CHECK(cfg->ocsp_refresh_before_s < cfg->ocsp_validity_s);
    FUZZ_CHECK(cfg->loops >= 0 && cfg->loops <= 64 && cfg->workers >= 0 && cfg->workers <= 256);
    for (size_t i = 0; i < cfg->operator_count; i++) {
        FUZZ_CHECK(cfg->operators[i].name != NULL && cfg->operators[i].token_sha256 != NULL);
        FUZZ_CHECK(strlen(cfg->operators[i].token_sha256) == 64);
    }
    config_free(cfg);
    return 0;
}
