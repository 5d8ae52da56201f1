/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Making a seccomp violation visible. The embedded filters trap (SECCOMP_RET_TRAP)
 * instead of killing, so the offending thread receives SIGSYS; the handler here writes
 * one log line naming the thread kind and the syscall, one metrics line with
 * seccomp.num_faults, and ends the whole process with SECCOMP_EXIT_BAD_SYSCALL.
 * Only async-signal-safe calls, all of them allowed by every thread policy (write,
 * clock_gettime, exit_group): the handler runs under the filter that just trapped.
 */
#ifndef VMM_SECCOMP_SIGSYS_H
#define VMM_SECCOMP_SIGSYS_H

/* Firecracker's "bad syscall" status; distinct from 128+SIGSYS (159, a kill). */
#define SECCOMP_EXIT_BAD_SYSCALL 148

/*
 * Install the SIGSYS handler for the whole process and register the "seccomp" metrics
 * group. log_path and metrics_path (either may be NULL) are the --log-path and
 * --metrics-path already opened by the logger and metrics: they are opened a second
 * time here so the handler has its own fds and takes no lock. Reports always go to
 * stderr too. Call once from main() before any filter is installed. 0 or -errno.
 */
int seccomp_sigsys_init(const char *log_path, const char *metrics_path, const char *id);

/*
 * Unblock SIGSYS on the calling thread. Call right before it installs its filter:
 * a thread that blocks every signal (the API thread does) would otherwise be killed
 * by the kernel without the report, since a trap with SIGSYS blocked is fatal.
 */
void seccomp_sigsys_thread_init(void);

#endif
