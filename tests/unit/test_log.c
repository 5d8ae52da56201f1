// SPDX-License-Identifier: Apache-2.0
/* The log: timestamps computed without the C library's time zone code, line format. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "vmm/log.h"
#include "vmm/util.h"

static bool same_as_gmtime(int64_t secs)
{
	time_t t = (time_t)secs;
	struct log_utc u;
	struct tm tm;

	log_utc(secs, &u);
	if (!gmtime_r(&t, &tm))
		return false;
	if (u.year == tm.tm_year + 1900 && u.month == tm.tm_mon + 1 && u.day == tm.tm_mday &&
	    u.hour == tm.tm_hour && u.min == tm.tm_min && u.sec == tm.tm_sec)
		return true;
	fprintf(stderr, "  %lld: %04d-%02d-%02d %02d:%02d:%02d\n", (long long)secs, u.year,
		u.month, u.day, u.hour, u.min, u.sec);
	return false;
}

TEST(utc_matches_gmtime)
{
	/* Leap days, century years (2000 is leap, 2100 is not), month and year ends. */
	static const int64_t fixed[] = {
		0, 59, 86399, 86400, 951782399, 951782400, 951868800, 1709164800,
		1735689599, 1735689600, 4107542399, 4107542400, 4107628800, 253402300799,
		-1, -86400, -86401,
	};
	uint64_t x = 88172645463325252ULL;

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		CHECK(same_as_gmtime(fixed[i]));
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		CHECK(same_as_gmtime((int64_t)(x % 253402300800ULL)));
	}
	/* Every day of a few leap cycles, at a time of day that moves. */
	for (int64_t d = 10900; d < 10900 + 3 * 1461; d++)
		CHECK(same_as_gmtime(d * 86400 + (d * 7919) % 86400));
}

TEST(line_format)
{
	char path[64], line[512];
	struct timespec before, after;
	struct log_utc u;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/test_log_%d", getpid());
	unlink(path);
	CHECK_EQ(log_set_path(path), 0);
	log_set_level(LOG_INFO);
	log_set_instance_id("logtest");
	clock_gettime(CLOCK_REALTIME, &before);
	log_info("hello %d", 42);
	log_debug("not shown at Info");
	clock_gettime(CLOCK_REALTIME, &after);
	f = fopen(path, "r");
	CHECK(f);
	CHECK(fgets(line, sizeof(line), f));
	CHECK(!fgets(line + 256, 256, f)); /* one line only */
	fclose(f);
	unlink(path);
	/* 2026-11-26T02:58:01.123456Z [logtest:...] hello 42 */
	CHECK(strlen(line) > 28);
	CHECK(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[26] == 'Z');
	CHECK(strstr(line, " [logtest:"));
	CHECK(strstr(line, "hello 42\n"));
	/* The date is today's (or the second's neighbour at a day boundary). */
	log_utc(after.tv_sec, &u);
	{
		char want[16];

		snprintf(want, sizeof(want), "%04d-%02d-%02d", u.year, u.month, u.day);
		if (strncmp(line, want, 10)) {
			log_utc(before.tv_sec, &u);
			snprintf(want, sizeof(want), "%04d-%02d-%02d", u.year, u.month, u.day);
		}
		CHECK(strncmp(line, want, 10) == 0);
	}
	log_set_level(LOG_OFF);
}
