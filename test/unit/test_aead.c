/*
 * test_aead: the one AES-256-GCM (keystore/aead.c) — a known answer computed by another
 * implementation (Python's cryptography), round trips of several lengths (0: a tag over the
 * additional data alone, as the card's admin check uses it), a fresh IV per seal, and the
 * refusals: another key, IV, tag, additional data or ciphertext opens as AEAD_NOT_AUTHENTIC
 * with the output wiped and no error filled.
 */
#include <stdio.h>
#include <string.h>

#include "keystore/aead.h"
#include "testutil.h"

static const unsigned char AAD[] = "jpki test aad";
#define AAD_LEN (sizeof(AAD) - 1)
static const unsigned char PT[] = "a secret of 29 bytes, exactly";
#define PT_LEN (sizeof(PT) - 1)

static void hex_to(const char *hex, unsigned char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned int byte = 0;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (unsigned char)byte;
    }
}

static void key_of(unsigned char key[AEAD_KEY_BYTES], unsigned char first)
{
    for (size_t i = 0; i < AEAD_KEY_BYTES; i++)
        key[i] = (unsigned char)(first + i);
}

START_TEST(test_known_answer)
{
    unsigned char key[AEAD_KEY_BYTES], iv[AEAD_IV_BYTES], ct[PT_LEN], tag[AEAD_TAG_BYTES];
    unsigned char pt[PT_LEN];
    struct jerr err = {0};
    key_of(key, 0);
    for (size_t i = 0; i < AEAD_IV_BYTES; i++)
        iv[i] = (unsigned char)(100 + i);
    /* AESGCM(bytes(range(32))).encrypt(bytes(range(100, 112)), PT, AAD) */
    hex_to("293bad031a9b33ea1e0d39c8e85c4a9f3bb66379a74c960ac6b2d82482", ct, PT_LEN);
    hex_to("4baafc2406f2d2a497eec4547a649146", tag, AEAD_TAG_BYTES);
    ck_assert_int_eq(aead_open(key, AAD, AAD_LEN, iv, ct, PT_LEN, tag, pt, &err), AEAD_AUTHENTIC);
    ck_assert_mem_eq(pt, PT, PT_LEN);
}
END_TEST

START_TEST(test_round_trip)
{
    static const size_t lengths[] = {0, 1, 16, 29, 4096};
    unsigned char key[AEAD_KEY_BYTES], iv[AEAD_IV_BYTES], iv2[AEAD_IV_BYTES];
    unsigned char tag[AEAD_TAG_BYTES], tag2[AEAD_TAG_BYTES];
    unsigned char pt[4096], ct[4096], back[4096];
    struct jerr err = {0};
    key_of(key, 7);
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (unsigned char)(i * 31);
    for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
        size_t len = lengths[k];
        ck_assert_int_eq(
            aead_seal(key, AAD, AAD_LEN, len ? pt : NULL, len, iv, len ? ct : NULL, tag, &err), 0);
        /* Ciphertext equal to plaintext happens by chance with probability
         * 256^-len under a random IV; from 16 bytes on that is never. */
        if (len >= 16)
            ck_assert(memcmp(ct, pt, len) != 0);
        ck_assert_int_eq(
            aead_open(key, AAD, AAD_LEN, iv, len ? ct : NULL, len, tag, len ? back : NULL, &err),
            AEAD_AUTHENTIC);
        ck_assert_mem_eq(back, pt, len);
        /* A second seal of the same plaintext: a fresh IV, so another tag. */
        ck_assert_int_eq(
            aead_seal(key, AAD, AAD_LEN, len ? pt : NULL, len, iv2, len ? ct : NULL, tag2, &err),
            0);
        ck_assert(memcmp(iv, iv2, AEAD_IV_BYTES) != 0);
        ck_assert(memcmp(tag, tag2, AEAD_TAG_BYTES) != 0);
    }
    ck_assert_int_eq(err.code, JERR_NONE);
}
END_TEST

/* Seals PT once, then opens it with one thing changed: never authentic, output wiped. */
START_TEST(test_refusals)
{
    unsigned char key[AEAD_KEY_BYTES], other[AEAD_KEY_BYTES], iv[AEAD_IV_BYTES];
    unsigned char ct[PT_LEN], tag[AEAD_TAG_BYTES], pt[PT_LEN];
    unsigned char bad_iv[AEAD_IV_BYTES], bad_ct[PT_LEN], bad_tag[AEAD_TAG_BYTES];
    struct jerr err = {0};
    key_of(key, 1);
    key_of(other, 2);
    ck_assert_int_eq(aead_seal(key, AAD, AAD_LEN, PT, PT_LEN, iv, ct, tag, &err), 0);
    memcpy(bad_iv, iv, sizeof(iv));
    bad_iv[0] ^= 1;
    memcpy(bad_ct, ct, sizeof(ct));
    bad_ct[PT_LEN - 1] ^= 0x80;
    memcpy(bad_tag, tag, sizeof(tag));
    bad_tag[AEAD_TAG_BYTES - 1] ^= 1;
    static const unsigned char other_aad[] = "jpki test aae";

    struct {
        const char *what;
        const unsigned char *key, *aad, *iv, *ct, *tag;
    } cases[] = {
        {"key", other, AAD, iv, ct, tag},   {"AAD", key, other_aad, iv, ct, tag},
        {"IV", key, AAD, bad_iv, ct, tag},  {"ciphertext", key, AAD, iv, bad_ct, tag},
        {"tag", key, AAD, iv, ct, bad_tag},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(pt, 0xaa, sizeof(pt));
        int r = aead_open(cases[i].key, cases[i].aad, AAD_LEN, cases[i].iv, cases[i].ct, PT_LEN,
                          cases[i].tag, pt, &err);
        ck_assert_msg(r == AEAD_NOT_AUTHENTIC, "another %s: %d", cases[i].what, r);
        for (size_t j = 0; j < sizeof(pt); j++)
            ck_assert_msg(pt[j] == 0, "another %s: output not wiped", cases[i].what);
        ck_assert_int_eq(err.code, JERR_NONE);
    }
    /* Shorter additional data is other additional data. */
    ck_assert_int_eq(aead_open(key, AAD, AAD_LEN - 1, iv, ct, PT_LEN, tag, pt, &err),
                     AEAD_NOT_AUTHENTIC);
    /* And the right inputs still open. */
    ck_assert_int_eq(aead_open(key, AAD, AAD_LEN, iv, ct, PT_LEN, tag, pt, &err), AEAD_AUTHENTIC);
    ck_assert_mem_eq(pt, PT, PT_LEN);
}
END_TEST

static Suite *aead_suite(void)
{
    const TTest *tests[] = {test_known_answer, test_round_trip, test_refusals};
    Suite *s = suite_create("aead");
    TCase *tc = tcase_create("aead");
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(aead_suite());
}
