// DirectoryWalker: one level per open directory, each holding its sorted names and the
// descriptor that its children are opened relative to.
#include "facegate/walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <vector>

namespace facegate {
namespace detail {
namespace {

struct DirectoryEntry {
  std::string name;
  unsigned char type;  // d_type: DT_REG, DT_DIR, DT_LNK, ..., DT_UNKNOWN
  bool operator<(const DirectoryEntry& other) const { return name < other.name; }  // byte order
};

// An open directory of the walk, from the root down to the one being listed.
struct Level {
  int fd = -1;
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  std::vector<DirectoryEntry> entries;  // sorted by name
  std::size_t next = 0;                 // index of the next entry to visit
};

WalkEntry io_record(std::string path, std::string message) {
  return WalkEntry{std::move(path), Error{ErrorCode::io, std::move(message)}};
}

WalkEntry errno_record(std::string_view what, std::string path, int errno_value) {
  std::string message = std::string(what) + " " + path + ": " + std::strerror(errno_value);
  return io_record(std::move(path), std::move(message));
}

std::string child_path(const std::string& directory, const std::string& name) {
  if (!directory.empty() && directory.back() == '/') return directory + name;
  return directory + "/" + name;
}

unsigned char type_of_mode(mode_t mode) {
  if (S_ISREG(mode)) return DT_REG;
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  return DT_UNKNOWN;  // devices, FIFOs, sockets: skipped like unknown types
}

}  // namespace

struct WalkState {
  std::string root;
  WalkOptions options;
  bool started = false;
  std::vector<Level> levels;
  std::uint64_t examined = 0;
  std::uint64_t examine_limit = std::numeric_limits<std::uint64_t>::max();

  ~WalkState() {
    for (const Level& level : levels) ::close(level.fd);
  }

  std::optional<WalkEntry> start();
  std::optional<WalkEntry> visit(const Level& parent, DirectoryEntry entry);
  std::optional<WalkEntry> enter(int parent_fd, const std::string& name, std::string path,
                                 bool via_link);
  std::optional<WalkEntry> list(Level& level);
  const Level* ancestor(dev_t device, ino_t inode) const;
};

std::optional<WalkEntry> WalkState::start() {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return errno_record("cannot open", root, errno);
  if (S_ISREG(st.st_mode)) return WalkEntry{root, {}};
  if (!S_ISDIR(st.st_mode)) {
    return io_record(root, "cannot walk " + root + ": neither a directory nor a regular file");
  }
  return enter(AT_FDCWD, root, root, /*via_link=*/true);
}

// One entry of `parent`: a record, a directory entered, or nothing (skipped).
std::optional<WalkEntry> WalkState::visit(const Level& parent, DirectoryEntry entry) {
  std::string path = child_path(parent.path, entry.name);
  unsigned char type = entry.type;
  if (type == DT_UNKNOWN) {  // file systems without d_type
    struct stat st {};
    if (::fstatat(parent.fd, entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno_record("cannot stat", std::move(path), errno);
    }
    type = type_of_mode(st.st_mode);
  }
  const bool is_link = type == DT_LNK;
  if (is_link) {
    if (!options.follow_symlinks) return std::nullopt;
    struct stat target {};
    if (::fstatat(parent.fd, entry.name.c_str(), &target, 0) != 0) {
      return errno_record("cannot follow symbolic link", std::move(path), errno);
    }
    type = type_of_mode(target.st_mode);
  }
  if (type == DT_REG) return WalkEntry{std::move(path), {}};
  if (type == DT_DIR) return enter(parent.fd, entry.name, std::move(path), is_link);
  return std::nullopt;
}

// Opens the directory `name` relative to `parent_fd` and pushes its level; a record when it
// cannot be opened or listed, or closes a loop.
std::optional<WalkEntry> WalkState::enter(int parent_fd, const std::string& name, std::string path,
                                          bool via_link) {
  const int no_follow = via_link ? 0 : O_NOFOLLOW;
  const int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | no_follow);
  if (fd < 0) return errno_record("cannot open directory", std::move(path), errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return errno_record("cannot stat", std::move(path), error);
  }
  if (const Level* visited = ancestor(st.st_dev, st.st_ino)) {
    ::close(fd);
    const char* kind = via_link ? "symbolic link loop: " : "directory loop: ";
    return io_record(path, kind + path + " -> already visited " + visited->path);
  }
  levels.push_back(Level{fd, std::move(path), st.st_dev, st.st_ino, {}, 0});
  return list(levels.back());
}

// Reads and sorts the names of `level`; a record when reading fails (the names read before
// the failure are still walked).
std::optional<WalkEntry> WalkState::list(Level& level) {
  // A duplicate for the listing: closedir() closes it and frees the stream's buffer at once,
  // while level.fd stays open for openat.
  const int listing_fd = ::fcntl(level.fd, F_DUPFD_CLOEXEC, 0);
  DIR* stream = listing_fd < 0 ? nullptr : ::fdopendir(listing_fd);
  if (stream == nullptr) {
    const int error = errno;
    if (listing_fd >= 0) ::close(listing_fd);
    return errno_record("cannot read directory", level.path, error);
  }
  int error = 0;
  while (examined <= examine_limit) {
    errno = 0;
    const dirent* entry = ::readdir(stream);
    if (entry == nullptr) {
      error = errno;
      break;
    }
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    ++examined;
    level.entries.push_back(DirectoryEntry{entry->d_name, entry->d_type});
  }
  ::closedir(stream);
  std::sort(level.entries.begin(), level.entries.end());
  if (error != 0) return errno_record("cannot read directory", level.path, error);
  return std::nullopt;
}

const Level* WalkState::ancestor(dev_t device, ino_t inode) const {
  for (const Level& level : levels) {
    if (level.device == device && level.inode == inode) return &level;
  }
  return nullptr;
}

}  // namespace detail

DirectoryWalker::DirectoryWalker(std::string root, WalkOptions options)
    : state_(std::make_unique<detail::WalkState>()) {
  state_->root = std::move(root);
  state_->options = options;
}

DirectoryWalker::~DirectoryWalker() = default;
DirectoryWalker::DirectoryWalker(DirectoryWalker&&) noexcept = default;
DirectoryWalker& DirectoryWalker::operator=(DirectoryWalker&&) noexcept = default;

std::optional<WalkEntry> DirectoryWalker::next() {
  detail::WalkState& state = *state_;
  if (!state.started) {
    state.started = true;
    if (auto record = state.start()) return record;
  }
  while (!state.levels.empty()) {
    detail::Level& level = state.levels.back();
    if (level.next == level.entries.size()) {
      ::close(level.fd);
      state.levels.pop_back();
      continue;
    }
    detail::DirectoryEntry entry = std::move(level.entries[level.next++]);
    // visit() may push a level, which moves `level`: it reads the parent before that.
    if (auto record = state.visit(level, std::move(entry))) return record;
  }
  return std::nullopt;
}

std::uint64_t DirectoryWalker::entries_examined() const noexcept { return state_->examined; }

std::optional<std::uint64_t> DirectoryWalker::total_if_cheap(const std::string& root,
                                                             const WalkOptions& options,
                                                             std::uint64_t max_examined,
                                                             std::stop_token stop) {
  DirectoryWalker walker(root, options);
  walker.state_->examine_limit = max_examined;
  std::uint64_t records = 0;
  while (walker.next()) {
    if (stop.stop_requested() || walker.entries_examined() > max_examined) return std::nullopt;
    ++records;
  }
  if (walker.entries_examined() > max_examined) return std::nullopt;
  return records;
}

}  // namespace facegate
