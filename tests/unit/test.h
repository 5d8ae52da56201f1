/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal unit-test harness: one binary per test file, each TEST() registered
 * automatically, exit 0 (all passed), 1 (a failure) or 77 (everything skipped).
 * Prints one "PASS/FAIL/SKIP <name>" line per test and a closing
 * "<file>: N passed, N failed, N skipped" line that tests/run-unit.sh sums up.
 */
#ifndef TESTS_UNIT_TEST_H
#define TESTS_UNIT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TEST_MAX 256
extern struct test_case test_cases[TEST_MAX];
extern int test_ncases;
extern int test_failed_now;
extern int test_skipped_now;

#define TEST(name)                                                      \
	static void test_##name(void);                                  \
	__attribute__((constructor)) static void test_reg_##name(void)  \
	{                                                               \
		if (test_ncases < TEST_MAX)                             \
			test_cases[test_ncases++] =                     \
				(struct test_case){ #name, test_##name }; \
	}                                                               \
	static void test_##name(void)

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #cond);                                \
			test_failed_now = 1;                                     \
			return;                                                  \
		}                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                             \
	do {                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                \
		if (_a != _b) {                                                    \
			fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);               \
			test_failed_now = 1;                                       \
			return;                                                    \
		}                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                              \
	do {                                                                         \
		const char *_a = (a), *_b = (b);                                     \
		if (!_a || !_b || strcmp(_a, _b)) {                                  \
			fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, _a ? _a : "(null)",      \
				_b ? _b : "(null)");                                 \
			test_failed_now = 1;                                         \
			return;                                                      \
		}                                                                    \
	} while (0)

/* Skip the current test with a reason (a missing host feature, never a failure). */
#define SKIP(...)                                  \
	do {                                       \
		fprintf(stderr, "  skip: " __VA_ARGS__); \
		fprintf(stderr, "\n");             \
		test_skipped_now = 1;              \
		return;                            \
	} while (0)

#endif
