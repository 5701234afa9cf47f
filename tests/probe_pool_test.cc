// LocalProbePool: every job runs once, on the pool's threads, several at a time; submit never
// waits; the destructor runs what is queued before it joins.
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <latch>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "probe_pool.hpp"

using facegate::detail::LocalProbePool;

TEST_CASE("every job runs once, and the destructor waits for all of them") {
  std::atomic<int> runs{0};
  std::vector<std::atomic<int>> runs_of(1000);
  {
    LocalProbePool pool(3);
    CHECK(pool.thread_count() == 3);
    for (std::size_t i = 0; i < runs_of.size(); ++i) {
      pool.submit([&runs, &runs_of, i] {
        ++runs_of[i];
        ++runs;
      });
    }
  }
  CHECK(runs == 1000);
  for (const std::atomic<int>& count : runs_of) CHECK(count == 1);
}

TEST_CASE("jobs run on the pool's threads, not the caller's") {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  {
    LocalProbePool pool(2);
    for (int i = 0; i < 200; ++i) {
      pool.submit([&] {
        const std::lock_guard lock(mutex);
        threads.insert(std::this_thread::get_id());
      });
    }
  }
  CHECK(threads.size() >= 1);
  CHECK(threads.size() <= 2);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("the threads run jobs at the same time") {
  // Each job waits until both have started: one thread alone would never get past the first.
  std::latch both_started(2);
  std::atomic<int> finished{0};
  {
    LocalProbePool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.submit([&] {
        both_started.arrive_and_wait();
        ++finished;
      });
    }
  }
  CHECK(finished == 2);
}

TEST_CASE("submit returns while every thread is busy; queued jobs run in order") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<int> order;  // written by the pool's one thread only
  {
    LocalProbePool pool(1);
    pool.submit([released] { released.wait(); });
    for (int i = 0; i < 100; ++i) pool.submit([&order, i] { order.push_back(i); });
    CHECK(order.empty());  // the thread is still held by the first job
    release.set_value();
  }
  REQUIRE(order.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("the pool's threads block every signal") {
  std::atomic<bool> all_blocked{false};
  {
    LocalProbePool pool(1);
    pool.submit([&] {
      sigset_t blocked;
      ::pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
      all_blocked = sigismember(&blocked, SIGINT) == 1 && sigismember(&blocked, SIGTERM) == 1 &&
                    sigismember(&blocked, SIGCHLD) == 1 && sigismember(&blocked, SIGUSR1) == 1;
    });
  }
  CHECK(all_blocked);
  sigset_t caller;
  ::pthread_sigmask(SIG_BLOCK, nullptr, &caller);
  CHECK(sigismember(&caller, SIGINT) == 0);  // the caller's mask is left alone
}

TEST_CASE("a pool of 0 threads has one per usable core") {
  const LocalProbePool pool(0);
  CHECK(pool.thread_count() == facegate::detail::usable_cores());
  CHECK(pool.thread_count() >= 1);
}
