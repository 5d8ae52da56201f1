/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plain-program side of the libFuzzer harnesses: feed LLVMFuzzerTestOneInput every
 * file named on the command line (directories: every file in them, recursively), or the
 * committed corpus when there are no arguments, as the unit-test runner calls it. Prints
 * "NAME: N passed, N failed, 0 skipped" so tests/run-unit.sh counts it; 0 when every
 * input ran and there was at least one.
 */
#ifndef TESTS_FUZZ_REPLAY_H
#define TESTS_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_replay_main(int argc, char **argv, const char *name, const char *corpus);

#endif
