// A small fixed pool of threads for local probes: probe_files' threads and the Checker's local
// inputs.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace facegate::detail {

/// The CPUs this process may run on (sched_getaffinity: taskset, cpusets), at least 1.
unsigned usable_cores() noexcept;

/// Starts a thread running routine(argument) with every signal blocked, so that the caller's
/// signal handlers keep running on the caller's threads. False when the thread cannot be made.
bool start_thread_without_signals(pthread_t& thread, void* (*routine)(void*), void* argument);

/// A fixed set of threads that run the jobs submitted to it, in submission order (several at
/// once). The destructor runs every job still queued, then joins the threads.
class LocalProbePool {
 public:
  /// Starts `threads` threads (0: one per usable core), every signal blocked in them. Fewer
  /// start when the system refuses more (thread_count() says how many).
  explicit LocalProbePool(unsigned threads);
  /// Runs what is queued, then joins every thread.
  ~LocalProbePool();
  LocalProbePool(const LocalProbePool&) = delete;
  LocalProbePool& operator=(const LocalProbePool&) = delete;

  /// Queues a job; never waits for one to finish (the queue is unbounded: the caller bounds
  /// the jobs in flight). A job must not throw. With no thread started (thread_count() 0),
  /// the job runs at once on the caller's thread.
  void submit(std::function<void()> job);

  /// Threads that started.
  unsigned thread_count() const noexcept { return static_cast<unsigned>(threads_.size()); }

 private:
  static void* run_worker(void* pool);
  void work();

  std::mutex mutex_;
  std::condition_variable job_ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool closing_ = false;                     // guarded by mutex_
  std::vector<pthread_t> threads_;
};

}  // namespace facegate::detail
