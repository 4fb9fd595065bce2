// Timing shared by the C++ peers' harnesses (see quill_burst.cpp): the same method as
// examples/hot_path_latency.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <sched.h>
#include <vector>
#include <x86intrin.h>

static inline uint64_t ticks() {
  _mm_lfence();
  uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

static void spin_until(uint64_t until) {
  while (ticks() < until) {
    _mm_pause();
  }
}

static double ns_per_tick() {
  auto c0 = std::chrono::steady_clock::now();
  uint64_t t0 = ticks();
  spin_until(t0 + 1);
  while (std::chrono::steady_clock::now() - c0 < std::chrono::milliseconds(100)) {
  }
  uint64_t t1 = ticks();
  auto c1 = std::chrono::steady_clock::now();
  double ns = std::chrono::duration<double, std::nano>(c1 - c0).count();
  return ns / double(t1 - t0);
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
    std::fprintf(stderr, "could not pin to CPU %d\n", cpu);
    std::exit(1);
  }
}

/// Runs `bursts` bursts of 20 calls of `log` (after `warm`), prints the percentiles.
template <typename Warm, typename Log, typename Flush>
void run_bursts(char const* name, size_t bursts, double k, Warm warm, Log log, Flush flush) {
  constexpr size_t kBurst = 20;
  pin(0);
  // Warm-up: the thread's queue allocated and every page of it written once.
  for (uint64_t i = 0; i < 20000; ++i) {
    warm(i);
    if (i % 64 == 0) spin_until(ticks() + 20000);
  }
  flush();
  uint64_t idle = uint64_t(2e6 / k);
  std::vector<double> per_call;
  per_call.reserve(bursts);
  uint64_t next = ticks();
  for (size_t n = 0; n < bursts; ++n) {
    spin_until(next);
    uint64_t t0 = ticks();
    for (size_t i = 0; i < kBurst; ++i) {
      log();
    }
    uint64_t t1 = ticks();
    per_call.push_back(double(t1 - t0) * k / kBurst);
    next = t1 + idle;
  }
  flush();
  std::sort(per_call.begin(), per_call.end());
  auto at = [&](double q) {
    return per_call[std::min(per_call.size() - 1, size_t(q * per_call.size()))];
  };
  std::printf("%s (u64, u64, f64), burst/20: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f ns\n",
              name, at(0.5), at(0.9), at(0.99), at(0.999), per_call.back());
}
