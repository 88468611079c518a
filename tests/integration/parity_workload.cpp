// A known process group for linux_parity_test: this process (THREADS extra threads, MIB MiB of
// touched memory, FILES extra open descriptors) and SLEEPERS `sleep` children. Every byte read
// from CONTROL (a FIFO) burns about 0.3 s of user and 0.1 s of system CPU, after which DONE_FILE
// gets one more byte. Otherwise it is idle, so both exporters see the same steady values.
//
//   fleetps_parity_workload CONTROL DONE_FILE SLEEPERS FILES MIB THREADS
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace {

double CpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void Burn() {
  volatile unsigned long sink = 0;
  const double start = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  while (CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - start < 0.3) {
    for (int i = 0; i < 100000; ++i) sink = sink + static_cast<unsigned long>(i);
  }
  // System time: copying from /dev/zero happens in the kernel.
  const int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  std::vector<char> buf(1 << 20);
  const double sys_start = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  while (zero >= 0 && CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - sys_start < 0.15) {
    if (read(zero, buf.data(), buf.size()) <= 0) break;
  }
  if (zero >= 0) close(zero);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s CONTROL DONE_FILE SLEEPERS FILES MIB THREADS\n", argv[0]);
    return 2;
  }
  const char* control = argv[1];
  const char* done_file = argv[2];
  const int sleepers = std::atoi(argv[3]);
  const int files = std::atoi(argv[4]);
  const std::size_t mib = static_cast<std::size_t>(std::atol(argv[5]));
  const int threads = std::atoi(argv[6]);

  for (int i = 0; i < sleepers; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sleep", "sleep", "3600", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  std::vector<int> fds;
  for (int i = 0; i < files; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  std::vector<char> memory(mib << 20);
  for (std::size_t i = 0; i < memory.size(); i += 4096) memory[i] = 1;  // resident, not just mapped

  // Idle threads: each blocks forever in pause() on its own small stack.
  for (int i = 0; i < threads; ++i) {
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void*) -> void* {
          for (;;) pause();
        },
        nullptr);
  }

  const int done = open(done_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (write(done, "r", 1) != 1) return 1;  // ready
  for (;;) {
    // Opened per command so that the test's writer sees EOF handling only between commands.
    const int in = open(control, O_RDONLY | O_CLOEXEC);
    if (in < 0) return 1;
    char c = 0;
    while (read(in, &c, 1) == 1) {
      Burn();
      if (write(done, "b", 1) != 1) return 1;
    }
    close(in);
  }
}
