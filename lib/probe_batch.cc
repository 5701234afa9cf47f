// probe_files: many local files probed at once, their system calls batched with io_uring.
//
// Each file goes through the same Probe as probe_file, in three steps on the ring:
//   1. STATX of the path: its type and size (what probe_file's fstat gives);
//   2. for a regular file, OPENAT into a slot of the ring's fixed-file table, linked to the
//      READ of the probe's first want (at least min_read bytes), then one READ per further want;
//   3. CLOSE of the slot once the probe has its answer.
// Up to kMaxFilesInFlight files are in flight; one io_uring_enter submits every step the last
// completions made possible and waits for all the completions due. Anything else (a path that
// cannot be stat'ed or opened, a directory, a pipe or device, a failed read) is left to
// probe_file, after the ring is done: its answer, error message included, is then
// probe_file's by construction. The ring runs on a thread of its own (probe_with_ring).
#include <string>
#include <vector>

#include "facegate/probe.hpp"

#ifdef FACEGATE_HAVE_IO_URING
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#endif

namespace facegate {
namespace {

std::vector<ProbeResult> probe_one_by_one(std::span<const std::filesystem::path> paths,
                                          const FileProbeOptions& options) {
  std::vector<ProbeResult> results;
  results.reserve(paths.size());
  for (const std::filesystem::path& path : paths) results.push_back(probe_file(path, options));
  return results;
}

#ifdef FACEGATE_HAVE_IO_URING

// Files in flight at most. Fewer make more rounds; more take more memory (buffers, paths,
// statx) for no gain: on the benchmark's VM 32 was slower than 64, and 128 no faster.
constexpr unsigned kMaxFilesInFlight = 64;
// Below this many files the ring costs more than it saves over probe_file: its thread, its
// mappings, its kernel worker and the first touch of its memory cost about 2 ms on the
// benchmark's VM, where each file then costs 3 µs instead of 9. Measured there: 256 files
// take 3.1 ms on the ring and 2.4 ms one at a time, 512 files 3.9 ms and 4.8 ms.
constexpr std::size_t kMinFilesForRing = 400;
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

/// The io_uring driver of probe_files. start() sets up the ring; run() fills in results for
/// every path, except those it leaves to probe_file (left_to_probe_file()).
class RingBatch {
 public:
  RingBatch(std::span<const std::filesystem::path> paths, const FileProbeOptions& options,
            std::vector<ProbeResult>& results)
      : paths_(paths),
        options_(options),
        results_(results),
        slot_count_(
            static_cast<unsigned>(std::min<std::size_t>(paths.size(), kMaxFilesInFlight))) {}

  RingBatch(const RingBatch&) = delete;
  RingBatch& operator=(const RingBatch&) = delete;

  ~RingBatch() {
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
    // The io-wq is this thread's (the ring thread's, see probe_with_ring), so nobody else's
    // rings see the limit (5.15; without it, more threads).
    unsigned max_workers[2] = {1, 1};  // bounded, unbounded
    io_uring_register_iowq_max_workers(&ring_, max_workers);
    pin_worker_to_this_cpu();
    ring_ready_ = true;
    slots_ = std::make_unique<FileInFlight[]>(slot_count_);
    return true;
  }

  /// Probes every path; the ones that need probe_file are listed by left_to_probe_file().
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
  // probe_with_ring pins there too. The worker then runs while this thread waits for it,
  // instead of waking another CPU for every round and pulling every path, dentry and result
  // across: on the benchmark's 2-vCPU VM a STATX then costs 0.7 µs of CPU instead of 2 µs.
  // Only workers made afterwards take the affinity, hence before the first submission. Best
  // effort (kernel 5.14): unpinned, the worker is only slower.
  void pin_worker_to_this_cpu() {
    cpu_set_t cpus;
    if (!this_cpu(cpus)) return;
    io_uring_register_iowq_aff(&ring_, sizeof(cpus), &cpus);
  }

  // Starts a STATX for the next paths, one per free slot.
  void start_next_files() {
    for (unsigned slot = 0; slot < slot_count_ && next_path_ < paths_.size(); ++slot) {
      FileInFlight& file = slots_[slot];
      if (file.busy) continue;
      file.busy = true;
      file.index = next_path_++;
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

  // The ring failed: every file without an answer goes to probe_file.
  void abandon() {
    for (unsigned slot = 0; slot < slot_count_; ++slot) {
      if (slots_[slot].busy) leave_to_probe_file(slot);
    }
    for (; next_path_ < paths_.size(); ++next_path_) left_.push_back(next_path_);
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
  const unsigned slot_count_;  // files in flight at most
  io_uring ring_{};
  bool ring_ready_ = false;
  std::unique_ptr<FileInFlight[]> slots_;
  std::size_t next_path_ = 0;
  unsigned due_ = 0;  // completions sure to come: of STATX, OPENAT and READ
  std::vector<std::size_t> left_;
  const Want first_want_ = Probe().want();  // what every probe wants first
};

// Maps the pages of [first, last) in one madvise(2) call rather than by one page fault each as
// they are first written: a fault costs 13 µs on the benchmark's 2-vCPU VM (shadow page
// tables), a tenth of that elsewhere. Best effort (Linux 5.14); the contents do not change.
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

// What the ring thread gets and gives back.
struct RingJob {
  std::span<const std::filesystem::path> paths;
  const FileProbeOptions& options;
  std::vector<ProbeResult>& results;
  bool ring_ran = false;
  std::vector<std::size_t> left;  // indexes of the paths left to probe_file
};

void* run_ring(void* argument) {
  RingJob& job = *static_cast<RingJob*>(argument);
  try {
    RingBatch batch(job.paths, job.options, job.results);
    if (!batch.start()) return nullptr;
    batch.run();
    job.left = batch.left_to_probe_file();
    job.ring_ran = true;
  } catch (const std::bad_alloc&) {  // out of memory: the caller's thread tries probe_file
    job.ring_ran = false;
  }
  return nullptr;
}

// Starts the ring thread, with every signal blocked (the caller's handlers stay on the
// caller's threads) and on the CPU the caller runs on, which waits for it meanwhile: the
// scheduler would otherwise move it away from the io-wq worker, pinned to that CPU, at the
// first wake-up. Without that affinity (a CPU the thread may not use) it starts unpinned.
bool start_ring_thread(pthread_t& thread, RingJob& job) {
  for (const bool pinned : {true, false}) {
    pthread_attr_t attributes;
    if (::pthread_attr_init(&attributes) != 0) return false;
    sigset_t signals;
    ::sigfillset(&signals);
    cpu_set_t cpus;
    const bool ready =
        ::pthread_attr_setsigmask_np(&attributes, &signals) == 0 &&
        (!pinned || (this_cpu(cpus) &&
                     ::pthread_attr_setaffinity_np(&attributes, sizeof(cpus), &cpus) == 0));
    const bool started = ready && ::pthread_create(&thread, &attributes, run_ring, &job) == 0;
    ::pthread_attr_destroy(&attributes);
    if (started) return true;
  }
  return false;
}

// Probes with the ring; false when io_uring is unavailable and nothing was done.
//
// The ring lives on a thread of its own that ends before this returns. The kernel gives each
// thread that uses io_uring its own worker threads (iou-wrk-*), kept until that thread exits:
// run on the caller's thread, they would outlive the call there, with the limit and the CPU
// affinity that RingBatch::start sets, in the way of its own rings, of fork, and of tools
// that stop every thread (debuggers, LeakSanitizer). A thread costs about 60 µs of CPU on the
// benchmark's VM.
bool probe_with_ring(std::span<const std::filesystem::path> paths,
                     const FileProbeOptions& options, std::vector<ProbeResult>& results) {
  RingJob job{paths, options, results, false, {}};
  pthread_t thread;
  if (!start_ring_thread(thread, job)) return false;
  ::pthread_join(thread, nullptr);
  if (!job.ring_ran) return false;
  for (const std::size_t index : job.left) results[index] = probe_file(paths[index], options);
  return true;
}

#endif  // FACEGATE_HAVE_IO_URING

}  // namespace

std::vector<ProbeResult> probe_files(std::span<const std::filesystem::path> paths,
                                     const FileProbeOptions& options) {
#ifdef FACEGATE_HAVE_IO_URING
  if (options.use_io_uring && paths.size() >= kMinFilesForRing) {
    std::vector<ProbeResult> results = results_for(paths.size());
    if (probe_with_ring(paths, options, results)) return results;
  }
#endif
  return probe_one_by_one(paths, options);
}

}  // namespace facegate
