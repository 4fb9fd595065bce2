// Quill (C++) measured the way examples/hot_path_latency measures tickwatch, so the two can
// be compared on one machine in one sitting (issue 14): the measuring thread pinned to CPU 0
// and Quill's backend to CPU 1 (its default 100 us sleep when idle), bursts of 20
// `LOG_INFO(logger, "{} {} {}", u64, u64, double)` timed with `lfence; rdtsc; lfence` around
// each burst, 2 ms of idle spin between bursts, a NullSink (formatting still happens on the
// backend). Prints the percentiles of ns per call.
//
// Built and run by benches/peers_cpp/run.sh, which fetches Quill at a pinned tag; nothing
// here is part of the crate or its tests.

#include "burst.h"

#include "quill/Backend.h"
#include "quill/Frontend.h"
#include "quill/LogMacros.h"
#include "quill/sinks/NullSink.h"

int main(int argc, char** argv) {
  size_t bursts = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  double k = ns_per_tick();
  quill::BackendOptions backend;
  backend.cpu_affinity = {1};
  quill::Backend::start(backend);
  auto sink = quill::Frontend::create_or_get_sink<quill::NullSink>("null");
  quill::Logger* logger = quill::Frontend::create_or_get_logger("bench", std::move(sink));
  volatile uint64_t a = 42, b = 7;
  volatile double c = 101.25;
  char name[64];
  std::snprintf(name, sizeof name, "Quill %u LOG_INFO", unsigned(quill::Version));
  run_bursts(
      name, bursts, k, [&](uint64_t i) { LOG_INFO(logger, "{} {} {}", i, i, 0.5); },
      [&] { LOG_INFO(logger, "{} {} {}", uint64_t(a), uint64_t(b), double(c)); },
      [&] { logger->flush_log(); });
  return 0;
}
