// SPDX-License-Identifier: Apache-2.0
/* main() for every unit-test binary; see test.h. */
#include "tests/unit/test.h"

#include <libgen.h>

struct test_case test_cases[TEST_MAX];
int test_ncases;
int test_failed_now;
int test_skipped_now;

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	for (int i = 0; i < test_ncases; i++) {
		if (only && strcmp(only, test_cases[i].name))
			continue;
		test_failed_now = 0;
		test_skipped_now = 0;
		test_cases[i].fn();
		if (test_failed_now) {
			printf("FAIL %s\n", test_cases[i].name);
			failed++;
		} else if (test_skipped_now) {
			printf("SKIP %s\n", test_cases[i].name);
			skipped++;
		} else {
			printf("PASS %s\n", test_cases[i].name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%s: %d passed, %d failed, %d skipped\n", basename(argv[0]), passed, failed,
	       skipped);
	if (failed)
		return 1;
	return passed == 0 && skipped > 0 ? 77 : 0;
}
