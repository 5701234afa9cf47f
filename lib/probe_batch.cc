// probe_files: many local files probed at once by several threads, each looping over
// probe_file or keeping many files in flight on an io_uring ring of its own.
//
// The threads take the paths in chunks from one counter (WorkList) and write each result into
// its own slot of a vector made beforehand: a thread that is held up holds up only its chunk.
// plan_for says how many threads and which of the two ways, by the rules measured on
// bench/run_local.py (see the constants).
//
// On a ring each file goes through the same Probe as probe_file, in three steps:
//   1. STATX of the path: its type and size (what probe_file's fstat gives);
//   2. for a regular file, OPENAT into a slot of the ring's fixed-file table, linked to the
//      READ of the probe's first want (at least min_read bytes), then one READ per further want;
//   3. CLOSE of the slot once the probe has its answer.
// Up to kMaxFilesInFlight files are in flight; one io_uring_enter submits every step the last
// completions made possible and waits for all the completions due. Anything else (a path that
// cannot be stat'ed or opened, a directory, a pipe or device, a failed read) is left to
// probe_file, after the ring is done: its answer, error message included, is then
// probe_file's by construction.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "facegate/probe.hpp"
#include "probe_pool.hpp"

#ifdef FACEGATE_HAVE_IO_URING
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <optional>
#endif

namespace facegate {
namespace {

// Threads at most when FileProbeOptions::threads is 0 (one per usable core).
constexpr unsigned kMaxThreads = 16;
// Files per thread at least: below, starting a thread costs more than it saves (40 µs or so).
// Measured with bench/run_local.py --sweep on Linux 6.18, 2 CPUs (2026-12-01): 32 files took
// 152 µs on one thread and 155 µs on two, 64 files 304 µs and 251 µs.
constexpr std::size_t kMinFilesPerThread = 32;
// Paths a thread takes from the WorkList at once, at most: enough that the threads seldom meet
// on its counter (a chunk takes 100 µs or so).
constexpr std::size_t kMaxChunk = 32;
// Chunks per thread at least, so that the threads end nearly together.
constexpr std::size_t kChunksPerThread = 8;

// The paths, handed out in chunks in input order to whichever thread asks first.
class WorkList {
 public:
  WorkList(std::size_t count, unsigned threads)
      : count_(count),
        chunk_(std::clamp<std::size_t>(count / (std::size_t{threads} * kChunksPerThread), 1,
                                       kMaxChunk)) {}

  /// The next chunk [first, last) of indexes; first == last once every path is taken.
  std::pair<std::size_t, std::size_t> take() {
    const std::size_t first = std::min(next_.fetch_add(chunk_, std::memory_order_relaxed), count_);
    return {first, std::min(first + chunk_, count_)};
  }

 private:
  const std::size_t count_;
  const std::size_t chunk_;
  std::atomic<std::size_t> next_{0};
};

/// What every thread of one probe_files call shares.
struct Batch {
  std::span<const std::filesystem::path> paths;
  const FileProbeOptions& options;
  std::vector<ProbeResult>& results;
  WorkList work;
  std::atomic<bool> out_of_memory{false};  // a thread's allocation failed: the caller rethrows
};

// Runs a thread's work; an allocation that fails is reported to the caller's thread, which
// throws it there, as probe_file would.
template <typename Work>
void guard_memory(Batch& batch, Work work) {
  try {
    work();
  } catch (const std::bad_alloc&) {
    batch.out_of_memory = true;
  }
}

// Probes the chunks left in the work list, one file after another with probe_file.
void probe_share(Batch& batch) {
  for (;;) {
    const auto [first, last] = batch.work.take();
    if (first == last) return;
    for (std::size_t i = first; i < last; ++i) {
      batch.results[i] = probe_file(batch.paths[i], batch.options);
    }
  }
}

// Maps the pages of [first, last) in one madvise(2) call rather than by one page fault each as
// they are first written: a fault costs 13 µs on the 2-vCPU VM of the first benchmarks (shadow
// page tables), a tenth of that elsewhere. Best effort (Linux 5.14); the contents do not
// change.
void prefault(const void* first, const void* last) {
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return;
  const auto page = static_cast<std::uintptr_t>(page_size);
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(first) + page - 1) & ~(page - 1);
  const std::uintptr_t end = reinterpret_cast<std::uintptr_t>(last) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

// One default result per path, to be filled in in any order.
std::vector<ProbeResult> results_for(std::size_t count) {
  std::vector<ProbeResult> results;
  results.reserve(count);
  prefault(results.data(), results.data() + count);
  results.resize(count);
  return results;
}

#ifdef FACEGATE_HAVE_IO_URING

// Files in flight at most on one ring. Fewer make more rounds; more take more memory (buffers,
// paths, statx) for no gain: on the first benchmarks' VM 32 was slower than 64, and 128 no
// faster.
constexpr unsigned kMaxFilesInFlight = 64;
// IoUringUse::automatic: files per ring at least. Below, a ring costs more than it saves over
// probe_file. Its mappings, its kernel worker and the first touch of its memory cost about
// 2 ms on the first benchmarks' VM (a page fault took 13 µs there), where each file then cost
// 3 µs instead of 9: 256 files took 3.1 ms on one ring and 2.4 ms one at a time, 512 files
// 3.9 ms and 4.8 ms. On Linux 6.18 with system calls made to cost 1 µs (run_local.py --sweep
// --syscall-tax 2160), two rings beat two threads' loops from 256 files (128 a ring) on.
constexpr std::size_t kMinFilesPerRing = 400;
// IoUringUse::automatic takes rings from there on, whatever a system call costs. Measured with
// run_local.py on Linux 6.18, 2 CPUs, 10,272 files, a system call 200-240 ns, other builds
// running (load 4-6, 2026-12-01, three runs): a ring per thread 5.0-5.9 µs a file (wall), two
// threads' loops over probe_file 8.6-12.8, one thread 7.9-10.8, the single-threaded
// read-4-KiB baseline 6.7-8.5. The loops' two threads gained nothing over one there, while the
// rings' kernel workers did run in parallel. On the same kernel, quiet, the --sweep at 4,096
// files had loops 7% ahead (14.3 ms against 15.3): the rings' worst case is close, their best
// case twice as fast.
// Between two submissions a file in flight adds at most two entries: a CLOSE and the next
// file's STATX, or an OPENAT and its linked READ. Twice that leaves the queue room to spare,
// so a link is never split across two submissions.
constexpr unsigned kSubmissionEntriesPerFile = 4;
// Due at once per file in flight, at most: its STATX's or READ's completion, its OPENAT's, and
// a failed CLOSE's of the file before.
constexpr unsigned kCompletionEntriesPerFile = 4;

// What a completion answers, in the low bits of its user_data; the slot is in the others.
enum class Operation : std::uint64_t {
  stat = 0,
  open = 1,  // its failure shows in its linked READ's completion too (-ECANCELED)
  read = 2,
  close = 3,  // completes only on failure (IOSQE_CQE_SKIP_SUCCESS)
};
constexpr std::uint64_t kOperationBits = 2;

std::uint64_t user_data(unsigned slot, Operation operation) {
  return (std::uint64_t{slot} << kOperationBits) | static_cast<std::uint64_t>(operation);
}

Operation operation_of(std::uint64_t user_data) {
  return static_cast<Operation>(user_data & ((std::uint64_t{1} << kOperationBits) - 1));
}

// The CPU this thread runs on now, alone in a set; false when unknown.
bool this_cpu(cpu_set_t& cpus) {
  const int cpu = ::sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE) return false;
  CPU_ZERO(&cpus);
  CPU_SET(cpu, &cpus);
  return true;
}

// One file in flight; slot i owns entry i of the ring's fixed-file table.
struct FileInFlight {
  std::size_t index = 0;  // into paths and results
  // Made when the first READ completes, ended as soon as the file is answered, mostly in the
  // same round: few Probes (4 KiB each) live at once, and the next one takes the same memory
  // back from malloc, still in the cache.
  std::optional<Probe> probe;
  struct statx stat {};
  std::vector<std::byte> buffer;
  // The path, copied from the caller's std::filesystem::path (whose text lies apart from the
  // object, among its components): the kernel copies it in twice, for STATX and for OPENAT,
  // and then finds it here in the cache rather than in the caller's scattered memory.
  std::string path;
  std::uint64_t read_offset = 0;  // of the READ in flight
  std::uint64_t bytes_read = 0;
  bool busy = false;
};

/// The io_uring driver of one thread of probe_files. start() sets up the ring; run() takes
/// chunks of the work list until it is empty and fills in their results, except for the paths
/// it leaves to probe_file (left_to_probe_file()).
class Ring {
 public:
  /// `files_in_flight`: at most, and at least 1.
  Ring(Batch& batch, unsigned files_in_flight)
      : paths_(batch.paths),
        options_(batch.options),
        results_(batch.results),
        work_(batch.work),
        slot_count_(files_in_flight) {}

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  ~Ring() {
    if (!ring_ready_) return;
    drain();
    io_uring_queue_exit(&ring_);  // also closes what the fixed-file table still holds
  }

  /// False when the kernel refuses io_uring (ENOSYS, EPERM in sandboxes) or predates sparse
  /// fixed-file tables (5.19), which implies every operation used here (OPENAT into a fixed
  /// slot 5.15, STATX and READ 5.6, IOSQE_CQE_SKIP_SUCCESS 5.17).
  bool start() {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = kCompletionEntriesPerFile * slot_count_;
    const unsigned entries = kSubmissionEntriesPerFile * slot_count_;
    if (io_uring_queue_init_params(entries, &ring_, &params) < 0) {
      // SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1) only save work: retry without them.
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
      params.cq_entries = kCompletionEntriesPerFile * slot_count_;
      if (io_uring_queue_init_params(entries, &ring_, &params) < 0) return false;
    }
    if (io_uring_register_files_sparse(&ring_, slot_count_) < 0) {
      io_uring_queue_exit(&ring_);
      return false;
    }
    // Only STATX goes to the kernel's worker threads (io-wq), which create a thread for each
    // request that finds none idle: one worker does them in turn, with no threads to create.
    // The io-wq is this thread's (a ring thread's, see probe_with_rings), so nobody else's
    // rings see the limit (5.15; without it, more threads).
    unsigned max_workers[2] = {1, 1};  // bounded, unbounded
    io_uring_register_iowq_max_workers(&ring_, max_workers);
    pin_worker_to_this_cpu();
    ring_ready_ = true;
    slots_ = std::make_unique<FileInFlight[]>(slot_count_);
    return true;
  }

  /// Probes the paths it takes; the ones that need probe_file are listed by
  /// left_to_probe_file().
  void run() {
    for (;;) {
      start_next_files();
      if (due_ == 0) break;
      // Waiting for every completion due, not for the first, wakes this thread once a round
      // rather than once a file (the STATXs complete on a worker thread).
      const int submitted = io_uring_submit_and_wait(&ring_, due_);
      if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
        abandon();
        return;
      }
      reap();
    }
    io_uring_submit(&ring_);  // the last CLOSEs
  }

  /// Indexes of the paths the ring did not answer, for probe_file.
  const std::vector<std::size_t>& left_to_probe_file() const { return left_; }

 private:
  // A submission entry. The queue cannot fill between two rounds (kSubmissionEntriesPerFile);
  // if it ever did, what it holds is submitted first.
  io_uring_sqe* next_entry() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    while (entry == nullptr) {
      io_uring_submit(&ring_);
      entry = io_uring_get_sqe(&ring_);
    }
    return entry;
  }

  // Pins the io-wq worker, made at the first STATX, to the CPU of this thread, which
  // ring_share pins there too. The worker then runs while this thread waits for it,
  // instead of waking another CPU for every round and pulling every path, dentry and result
  // across: on the first benchmarks' 2-vCPU VM a STATX then cost 0.7 µs of CPU instead of 2 µs.
  // Only workers made afterwards take the affinity, hence before the first submission. Best
  // effort (kernel 5.14): unpinned, the worker is only slower.
  void pin_worker_to_this_cpu() {
    cpu_set_t cpus;
    if (!this_cpu(cpus)) return;
    io_uring_register_iowq_aff(&ring_, sizeof(cpus), &cpus);
  }

  // The index of the next path of this ring's chunk, taking a new chunk when it is done;
  // false when the work list is empty.
  bool take_path(std::size_t& index) {
    if (next_path_ == chunk_end_) {
      std::tie(next_path_, chunk_end_) = work_.take();
      if (next_path_ == chunk_end_) return false;
    }
    index = next_path_++;
    return true;
  }

  // Starts a STATX for the next paths, one per free slot.
  void start_next_files() {
    for (unsigned slot = 0; slot < slot_count_; ++slot) {
      FileInFlight& file = slots_[slot];
      if (file.busy) continue;
      if (!take_path(file.index)) return;
      file.busy = true;
      file.bytes_read = 0;
      file.path.assign(paths_[file.index].c_str());  // up to a NUL, as open(2) reads it
      io_uring_sqe* entry = next_entry();
      // No AT_SYMLINK_NOFOLLOW: like open(2), follow a symbolic link to its file.
      io_uring_prep_statx(entry, AT_FDCWD, file.path.c_str(), 0,
                          STATX_TYPE | STATX_SIZE, &file.stat);
      io_uring_sqe_set_data64(entry, user_data(slot, Operation::stat));
      ++due_;
    }
  }

  void reap() {
    unsigned seen = 0;
    unsigned head;
    io_uring_cqe* completion;
    io_uring_for_each_cqe(&ring_, head, completion) {
      ++seen;
      const std::uint64_t data = completion->user_data;
      const auto slot = static_cast<unsigned>(data >> kOperationBits);
      const Operation operation = operation_of(data);
      if (operation != Operation::close) --due_;
      if (operation == Operation::stat) on_stat(slot, completion->res);
      if (operation == Operation::read) on_read(slot, completion->res);
      // A failed CLOSE of a file only read from loses nothing.
    }
    io_uring_cq_advance(&ring_, seen);
  }

  void on_stat(unsigned slot, int result) {
    FileInFlight& file = slots_[slot];
    // Directories, pipes, devices and sockets: probe_file's open, fstat and pread decide
    // (an error message, a blocking open of a FIFO, ESPIPE), not a ring READ.
    if (result < 0 || !(file.stat.stx_mask & STATX_TYPE) || !S_ISREG(file.stat.stx_mode) ||
        !(file.stat.stx_mask & STATX_SIZE)) {
      leave_to_probe_file(slot);
      return;
    }
    if (!readable(first_want_)) {
      leave_to_probe_file(slot);
      return;
    }
    io_uring_sqe* open = next_entry();
    // A fixed-table slot is not a descriptor that exec could leak: the kernel refuses
    // O_CLOEXEC with it (EINVAL). No IOSQE_CQE_SKIP_SUCCESS: when a request flagged so fails,
    // its linked READ posts no completion either, and the READ's is the one awaited.
    io_uring_prep_openat_direct(open, AT_FDCWD, file.path.c_str(), O_RDONLY, 0, slot);
    io_uring_sqe_set_data64(open, user_data(slot, Operation::open));
    io_uring_sqe_set_flags(open, IOSQE_IO_LINK);
    ++due_;
    queue_read(slot, first_want_);
  }

  // pread takes a signed off_t, and a ring READ at offset -1 reads at the file position:
  // such a want is left to probe_file.
  static bool readable(const Want& want) {
    return want.offset <= static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
  }

  // Queues the READ of a want that is readable().
  void queue_read(unsigned slot, const Want& want) {
    FileInFlight& file = slots_[slot];
    const std::uint32_t length = std::max(want.length, options_.min_read);
    if (file.buffer.size() < length) file.buffer.resize(length);
    io_uring_sqe* read = next_entry();
    io_uring_prep_read(read, static_cast<int>(slot), file.buffer.data(), length, want.offset);
    io_uring_sqe_set_flags(read, IOSQE_FIXED_FILE);
    io_uring_sqe_set_data64(read, user_data(slot, Operation::read));
    file.read_offset = want.offset;
    ++due_;
  }

  void on_read(unsigned slot, int result) {
    FileInFlight& file = slots_[slot];
    if (result < 0) {  // -ECANCELED when the OPENAT failed; a read error otherwise
      close_slot(slot);
      leave_to_probe_file(slot);
      return;
    }
    file.bytes_read += static_cast<std::uint64_t>(result);
    if (!file.probe) file.probe.emplace();
    // As probe_file: a read that returns nothing is the end of the file.
    if (result == 0) {
      file.probe->finish();
    } else {
      file.probe->feed(file.read_offset,
                       std::span(file.buffer.data(), static_cast<std::size_t>(result)));
    }
    if (file.probe->status() == Status::need_more) {
      if (readable(file.probe->want())) {
        queue_read(slot, file.probe->want());
        return;
      }
      close_slot(slot);
      leave_to_probe_file(slot);
      return;
    }
    answer(slot);
    close_slot(slot);
    release(slot);
  }

  void answer(unsigned slot) {
    FileInFlight& file = slots_[slot];
    ProbeResult& result = results_[file.index];
    result.info = file.probe->info();
    if (file.probe->status() == Status::error) result.error = file.probe->error();
    result.file_size = file.stat.stx_size;
    result.bytes_read = file.bytes_read;
  }

  void close_slot(unsigned slot) {
    io_uring_sqe* close = next_entry();
    io_uring_prep_close_direct(close, slot);
    io_uring_sqe_set_data64(close, user_data(slot, Operation::close));
    io_uring_sqe_set_flags(close, IOSQE_CQE_SKIP_SUCCESS);
  }

  void leave_to_probe_file(unsigned slot) {
    left_.push_back(slots_[slot].index);
    release(slot);
  }

  void release(unsigned slot) {
    slots_[slot].probe.reset();
    slots_[slot].busy = false;
  }

  // The ring failed: every file of its chunks without an answer goes to probe_file (the
  // chunks left in the work list too, see probe_with_rings).
  void abandon() {
    for (unsigned slot = 0; slot < slot_count_; ++slot) {
      if (slots_[slot].busy) leave_to_probe_file(slot);
    }
    for (; next_path_ < chunk_end_; ++next_path_) left_.push_back(next_path_);
  }

  // After abandon(): submits what is queued and waits for the completions still due, for the
  // kernel writes into slots_ until then. If the ring fails again, the slots are left
  // allocated rather than written after they are freed.
  void drain() {
    while (due_ > 0) {
      const int status = io_uring_submit_and_wait(&ring_, 1);
      if (status < 0 && status != -EINTR) {
        static_cast<void>(slots_.release());
        return;
      }
      unsigned seen = 0;
      unsigned head;
      io_uring_cqe* completion;
      io_uring_for_each_cqe(&ring_, head, completion) {
        ++seen;
        if (operation_of(completion->user_data) != Operation::close) --due_;
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

  std::span<const std::filesystem::path> paths_;
  const FileProbeOptions& options_;
  std::vector<ProbeResult>& results_;
  WorkList& work_;
  const unsigned slot_count_;  // files in flight at most
  io_uring ring_{};
  bool ring_ready_ = false;
  std::unique_ptr<FileInFlight[]> slots_;
  std::size_t next_path_ = 0;  // of this ring's chunk [next_path_, chunk_end_)
  std::size_t chunk_end_ = 0;
  unsigned due_ = 0;  // completions sure to come: of STATX, OPENAT and READ
  std::vector<std::size_t> left_;
  const Want first_want_ = Probe().want();  // what every probe wants first
};

// Pins this thread to the k-th CPU the process may use (modulo their count); false when it
// cannot.
bool pin_to_cpu(unsigned k) {
  cpu_set_t usable;
  if (::sched_getaffinity(0, sizeof(usable), &usable) != 0 || CPU_COUNT(&usable) == 0) {
    return false;
  }
  k %= static_cast<unsigned>(CPU_COUNT(&usable));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &usable) || k-- != 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return ::pthread_setaffinity_np(::pthread_self(), sizeof(one), &one) == 0;
  }
  return false;
}

// The work of the k-th ring thread: a ring over chunks of the work list while it works, then
// probe_file for the files it left and for the chunks still in the list (all of them when the
// kernel refuses the ring). The thread is pinned to a CPU of its own, its io-wq worker with it
// (Ring::pin_worker_to_this_cpu): the scheduler would otherwise move it away from the worker
// at its first wake-up.
void ring_share(Batch& batch, unsigned k, unsigned files_in_flight) {
  pin_to_cpu(k);
  std::vector<std::size_t> left;
  {
    Ring ring(batch, files_in_flight);
    if (ring.start()) {
      ring.run();
      left = ring.left_to_probe_file();
    }
  }
  for (const std::size_t index : left) {
    batch.results[index] = probe_file(batch.paths[index], batch.options);
  }
  probe_share(batch);
}

// Probes with `threads` rings, each on a thread of its own that ends before this returns. The
// kernel gives each thread that uses io_uring its own worker threads (iou-wrk-*), kept until
// that thread exits: run on the caller's thread, they would outlive the call there, with the
// limit and the CPU affinity that Ring::start sets, in the way of its own rings, of fork, and
// of tools that stop every thread (debuggers, LeakSanitizer). A thread costs about 60 µs of
// CPU on the first benchmarks' VM. False when no thread could start (nothing was done).
bool probe_with_rings(Batch& batch, unsigned threads) {
  const std::size_t share = (batch.paths.size() + threads - 1) / threads;
  const auto files_in_flight = static_cast<unsigned>(std::min<std::size_t>(share, kMaxFilesInFlight));
  detail::LocalProbePool pool(threads);
  if (pool.thread_count() == 0) return false;
  for (unsigned k = 0; k < pool.thread_count(); ++k) {
    pool.submit([&batch, k, files_in_flight] {
      guard_memory(batch, [&] { ring_share(batch, k, files_in_flight); });
    });
  }
  return true;
}

#endif  // FACEGATE_HAVE_IO_URING

// How one probe_files call runs.
struct Plan {
  unsigned threads = 1;
  bool rings = false;  // one io_uring ring per thread, else loops over probe_file
};

// FileProbeOptions::threads 0 takes one thread per usable core, fewer for small batches;
// another number is taken as it is, up to one thread per file.
Plan plan_for(std::size_t files, const FileProbeOptions& options) {
  Plan plan;
  plan.threads = options.threads != 0
                     ? static_cast<unsigned>(std::min<std::size_t>(options.threads, files))
                     : static_cast<unsigned>(std::clamp<std::size_t>(
                           files / kMinFilesPerThread, 1,
                           std::min(detail::usable_cores(), kMaxThreads)));
#ifdef FACEGATE_HAVE_IO_URING
  if (options.io_uring == IoUringUse::always) plan.rings = true;
  if (options.io_uring == IoUringUse::automatic && files / plan.threads >= kMinFilesPerRing) {
    plan.rings = true;
  }
#endif
  return plan;
}

// Probes with `threads` threads, the caller's among them, each looping over probe_file.
void probe_with_loops(Batch& batch, unsigned threads) {
  detail::LocalProbePool pool(threads - 1);
  for (unsigned k = 0; k < pool.thread_count(); ++k) {
    pool.submit([&batch] { guard_memory(batch, [&] { probe_share(batch); }); });
  }
  probe_share(batch);
}

}  // namespace

std::vector<ProbeResult> probe_files(std::span<const std::filesystem::path> paths,
                                     const FileProbeOptions& options) {
  if (paths.empty()) return {};
  const Plan plan = plan_for(paths.size(), options);
  std::vector<ProbeResult> results = results_for(paths.size());
  Batch batch{paths, options, results, WorkList(paths.size(), plan.threads)};
#ifdef FACEGATE_HAVE_IO_URING
  if (!plan.rings || !probe_with_rings(batch, plan.threads))
#endif
  {
    if (plan.threads > 1) {
      probe_with_loops(batch, plan.threads);
    } else {
      probe_share(batch);
    }
  }
  if (batch.out_of_memory) throw std::bad_alloc();
  return results;
}

}  // namespace facegate
