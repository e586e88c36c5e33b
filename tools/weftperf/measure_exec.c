/* measure_exec: runs a command and writes what wait4(2) says it cost.
 *
 *   measure_exec OUT_FILE CMD ARGS...
 *
 * writes one line to OUT_FILE: "status wall_ns user_us sys_us maxrss_kib",
 * status as the shell gives it (128+N for a signal), and exits with it.
 *
 * Why not os.wait4 straight from Python: ru_maxrss is a high-water mark
 * that survives exec, and a child forked from Python starts with Python's
 * ~14 MB resident, so every small program would read as 14 MB. Forked from
 * this helper (linked statically when possible: ~0.1-1 MB resident), the
 * floor is the helper's size, not Python's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: measure_exec OUT_FILE CMD ARGS...\n");
    return 2;
  }
  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    perror("measure_exec: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("measure_exec: exec");
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
  }
  long long wall = now_ns() - start;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE* out = fopen(argv[1], "w");
  if (out == NULL) {
    perror("measure_exec: output file");
    return 2;
  }
  fprintf(out, "%d %lld %lld %lld %ld\n", code, wall,
          (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss);
  fclose(out);
  return code;
}
