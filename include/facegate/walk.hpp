// facegate: a lazy, depth-first walk of a directory tree that yields its regular files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "facegate/export.h"
#include "facegate/probe.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// Options of DirectoryWalker.
struct WalkOptions {
  /// Follow symbolic links inside the tree, to files and to directories, detecting loops. When
  /// false, a symbolic link inside the tree is skipped without a record. The root itself is
  /// always followed: its name was given.
  bool follow_symlinks = false;
};

/// One record of a walk: a regular file to read, or an entry that could not be walked.
struct WalkEntry {
  /// The file's path: the root, then "/" (not doubled when the root ends in '/'), then the
  /// names of the directories below it and the file's name. For an error, the path of the
  /// entry that failed (a directory, a symbolic link, or the root).
  std::string path;
  /// ErrorCode::none for a regular file; otherwise ErrorCode::io, with a message that names
  /// the path and the reason: "cannot open directory P: Permission denied", "cannot read
  /// directory P: ...", "cannot follow symbolic link P: No such file or directory", "symbolic
  /// link loop: P -> already visited Q" (Q a directory on the way from the root to P).
  Error error;
  /// True for a regular file.
  bool ok() const noexcept { return !error; }
};

FACEGATE_INTERNAL_BEGIN
namespace detail {
struct WalkState;
}
FACEGATE_INTERNAL_END

/// Walks a directory tree lazily, depth first, and yields one WalkEntry per regular file and
/// per entry that cannot be walked.
///
/// Order: the entries of each directory are sorted by name in plain byte order, and a
/// directory's contents come where its name falls among its siblings (for the siblings "a",
/// "b/", "c": a, then everything under b, then c). The same tree gives the same order.
///
/// Only regular files are yielded; other entries (devices, FIFOs, sockets, and symbolic links
/// unless WalkOptions::follow_symlinks) are skipped without a record. A regular file is not
/// opened: a file that cannot be read is yielded and fails where it is read.
///
/// Lazy: each call to next() reads no more than the directories it must enter to find the next
/// record. Memory is one directory's sorted names per level of depth (O(depth x widest
/// directory)), never the whole tree, and one open descriptor per level: a tree deeper than the
/// process's descriptor limit gets an io record where the descriptors run out.
///
/// Directories are opened relative to their parent's descriptor (openat), with O_NOFOLLOW
/// unless links are followed, so a name swapped for a symbolic link during the walk is not
/// followed. When following, a link to a directory that is already on the way from the root
/// to the link (the same st_dev and st_ino) is a loop: one io record, not entered. A directory
/// reached twice by links that do not form a loop is walked twice.
///
/// A root that is a regular file yields itself; a root that cannot be opened, or is neither a
/// directory nor a regular file, yields one io record.
class DirectoryWalker {
 public:
  /// A walk of `root`; nothing is read before the first next().
  explicit DirectoryWalker(std::string root, WalkOptions options = {});
  ~DirectoryWalker();
  DirectoryWalker(DirectoryWalker&&) noexcept;
  DirectoryWalker& operator=(DirectoryWalker&&) noexcept;
  DirectoryWalker(const DirectoryWalker&) = delete;
  DirectoryWalker& operator=(const DirectoryWalker&) = delete;

  /// The next record, or nothing at the end of the walk.
  std::optional<WalkEntry> next();

  /// Directory entries read so far (every name except "." and ".."), skipped ones included.
  std::uint64_t entries_examined() const noexcept;

  /// How many records a walk of `root` yields, counted by walking it once, or nothing when
  /// that would take more than `max_examined` directory entries (the walk is then not
  /// cheap: a progress display shows no total), or when `stop` is requested. It shares no
  /// state with other walks: the caller may run it on a thread of its own beside the real
  /// walk. The tree may change in between; the count is what it was when counted.
  static std::optional<std::uint64_t> total_if_cheap(const std::string& root,
                                                     const WalkOptions& options,
                                                     std::uint64_t max_examined = 100'000,
                                                     std::stop_token stop = {});

 private:
  std::unique_ptr<detail::WalkState> state_;
};

}  // namespace facegate
FACEGATE_PUBLIC_END
