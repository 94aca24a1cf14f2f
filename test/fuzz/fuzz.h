/*
 * fuzz.h: what every fuzz target in test/fuzz/ shares (STYLE "Untrusted input": a libFuzzer
 * target beside every parser of outside input).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and nothing else public. It is built twice:
 *  - with JPKI_FUZZ=ON and clang, linked with libFuzzer (-fsanitize=fuzzer) into fuzz_<name>,
 *    which scripts/fuzz runs;
 *  - in every build, linked with replay_main.c into replay_<name>, which ctest runs as
 *    fuzz-replay.<name> over test/fuzz/corpus/<name>/ and test/fuzz/regressions/<name>/
 *    (SQLite's habit: saved fuzz inputs are replayed by every normal test run).
 *
 * A target checks more than "does not crash": the parser's documented contract (an error is
 * filled on failure, outputs are untouched or emptied as the header says, results lie within
 * the caps of base/limits.h) is checked with FUZZ_CHECK, which aborts — a finding like any
 * other. Every target frees everything it was given (LeakSanitizer runs per input).
 */
#ifndef JPKI_FUZZ_H
#define JPKI_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract is a finding: say where, then abort so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
