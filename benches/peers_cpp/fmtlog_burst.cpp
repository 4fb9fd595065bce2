// fmtlog (C++) measured as quill_burst.cpp measures Quill: the measuring thread on CPU 0,
// a polling thread on CPU 1 calling `fmtlog::poll()` and sleeping 100 us when idle (as
// Quill's backend does), bursts of 20 `logi("{} {} {}", u64, u64, double)`, output to
// /dev/null. Built and run by benches/peers_cpp/run.sh.

#include "burst.h"

#include <atomic>
#include <thread>

#include "fmtlog.h"

int main(int argc, char** argv) {
  size_t bursts = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  double k = ns_per_tick();
  fmtlog::setLogFile("/dev/null", false);
  fmtlog::setHeaderPattern("{HMSf} {s} {l}[{t}] ");
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    pin(1);
    while (!stop.load(std::memory_order_relaxed)) {
      fmtlog::poll();
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    fmtlog::poll(true);
  });
  volatile uint64_t a = 42, b = 7;
  volatile double c = 101.25;
  run_bursts(
      "fmtlog logi", bursts, k, [&](uint64_t i) { logi("{} {} {}", i, i, 0.5); },
      [&] { logi("{} {} {}", uint64_t(a), uint64_t(b), double(c)); },
      [&] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  stop = true;
  poller.join();
  return 0;
}
