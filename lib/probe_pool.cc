#include "probe_pool.hpp"

#include <sched.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace facegate::detail {

unsigned usable_cores() noexcept {
  cpu_set_t cpus;
  if (::sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 0) {
    return static_cast<unsigned>(CPU_COUNT(&cpus));
  }
  const unsigned cores = std::thread::hardware_concurrency();  // 0 when unknown
  return cores > 0 ? cores : 1;
}

bool start_thread_without_signals(pthread_t& thread, void* (*routine)(void*), void* argument) {
  pthread_attr_t attributes;
  if (::pthread_attr_init(&attributes) != 0) return false;
  sigset_t signals;
  ::sigfillset(&signals);
  const bool started = ::pthread_attr_setsigmask_np(&attributes, &signals) == 0 &&
                       ::pthread_create(&thread, &attributes, routine, argument) == 0;
  ::pthread_attr_destroy(&attributes);
  return started;
}

LocalProbePool::LocalProbePool(unsigned threads) {
  if (threads == 0) threads = usable_cores();
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    pthread_t thread;
    if (!start_thread_without_signals(thread, run_worker, this)) break;
    threads_.push_back(thread);
  }
}

LocalProbePool::~LocalProbePool() {
  {
    const std::lock_guard lock(mutex_);
    closing_ = true;
  }
  job_ready_.notify_all();
  for (const pthread_t thread : threads_) ::pthread_join(thread, nullptr);
}

void LocalProbePool::submit(std::function<void()> job) {
  if (threads_.empty()) {
    job();
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  job_ready_.notify_one();
}

void* LocalProbePool::run_worker(void* pool) {
  static_cast<LocalProbePool*>(pool)->work();
  return nullptr;
}

// Takes jobs until the pool closes and its queue is empty.
void LocalProbePool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      job_ready_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace facegate::detail
