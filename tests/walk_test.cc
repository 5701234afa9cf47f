// DirectoryWalker over a scratch tree: nested folders, names out of alphabetical order, files
// that are not images, symbolic links (to a file, dangling, two loops, a non-loop), unreadable
// directories and files, a FIFO; the exact records in the documented order, with and without
// following links; laziness, the cheap total and descriptors.
#include <doctest/doctest.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stop_token>
#include <string>
#include <vector>

#include "facegate/walk.hpp"

using namespace facegate;
namespace fs = std::filesystem;

namespace {

// While alive, the calling thread's effective capabilities lack CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH, so file modes bind root as they bind anyone (tests run as root in CI).
class WithoutDacOverride {
 public:
  WithoutDacOverride() {
    REQUIRE(::syscall(SYS_capget, &header_, saved_) == 0);
    __user_cap_data_struct reduced[2] = {saved_[0], saved_[1]};
    reduced[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    REQUIRE(::syscall(SYS_capset, &header_, reduced) == 0);
  }
  ~WithoutDacOverride() { ::syscall(SYS_capset, &header_, saved_); }
  WithoutDacOverride(const WithoutDacOverride&) = delete;
  WithoutDacOverride& operator=(const WithoutDacOverride&) = delete;

 private:
  __user_cap_header_struct header_{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct saved_[2]{};
};

void write_file(const fs::path& path, const std::string& content = "x") {
  std::ofstream(path, std::ios::binary) << content;
}

// A scratch directory, removed (modes restored first) at the end.
struct Scratch {
  fs::path root;
  explicit Scratch(const std::string& name) {
    root = fs::temp_directory_path() / ("facegate-walk-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~Scratch() {
    std::error_code ignored;
    for (const char* locked : {"locked", "noexec", "unreadable.jpg"}) {
      fs::permissions(root / locked, fs::perms::owner_all, ignored);
    }
    fs::remove_all(root, ignored);
  }
};

// The tree of the order tests; see the expected records below.
void build_tree(const fs::path& root) {
  write_file(root / "B.jpg");  // 'B' (0x42) sorts before 'a' (0x61)
  fs::create_directories(root / "a");
  write_file(root / "a" / "inner.png");
  write_file(root / "a.jpg");  // after the directory "a": "a" < "a.jpg"
  write_file(root / "b.txt", "not an image");
  fs::create_directories(root / "empty");
  REQUIRE(::mkfifo((root / "fifo").c_str(), 0600) == 0);
  fs::create_symlink("a.jpg", root / "link-to-a.jpg");
  fs::create_symlink("missing", root / "link-to-missing");
  fs::create_directories(root / "locked");
  write_file(root / "locked" / "hidden.jpg");
  fs::permissions(root / "locked", fs::perms::none);
  fs::create_symlink(".", root / "loop");
  fs::create_directories(root / "nest" / "d1" / "d2" / "d3");
  write_file(root / "nest" / "d1" / "d2" / "d3" / "deep.bmp");
  fs::create_symlink("..", root / "nest" / "up");
  fs::create_symlink("nest/d1", root / "alias");  // a second way to d1, not a loop
  // Readable but not searchable: its names can be listed, its entries not opened.
  fs::create_directories(root / "noexec" / "sub");
  write_file(root / "noexec" / "f.jpg");
  fs::permissions(root / "noexec", fs::perms::owner_read | fs::perms::owner_write);
  write_file(root / "unreadable.jpg");
  fs::permissions(root / "unreadable.jpg", fs::perms::none);
  fs::create_directories(root / "zz");
  write_file(root / "zz" / "z.jpg");
  write_file(root / "zz" / "\xC3\xA9.jpg");  // "é" (bytes C3 A9) sorts after "z"
}

// Each record as "path" or "path | message".
std::vector<std::string> walk_all(const std::string& root, WalkOptions options = {}) {
  DirectoryWalker walker(root, options);
  std::vector<std::string> records;
  while (std::optional<WalkEntry> entry = walker.next()) {
    CHECK(entry->ok() == (entry->error.code == ErrorCode::none));
    if (entry->ok()) {
      records.push_back(entry->path);
    } else {
      CHECK(entry->error.code == ErrorCode::io);
      records.push_back(entry->path + " | " + entry->error.message);
    }
  }
  CHECK_FALSE(walker.next());  // the end stays the end
  return records;
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}

}  // namespace

// The records of build_tree's tree under `r`, in the documented order; following links adds
// what they lead to.
std::vector<std::string> expected_records(const std::string& r, bool follow) {
  std::vector<std::string> records;
  const auto add = [&](bool when_following_only, std::string record) {
    if (follow || !when_following_only) records.push_back(std::move(record));
  };
  add(false, r + "/B.jpg");
  add(false, r + "/a/inner.png");
  add(false, r + "/a.jpg");
  add(true, r + "/alias/d2/d3/deep.bmp");
  add(false, r + "/b.txt");
  add(true, r + "/link-to-a.jpg");
  add(true, r + "/link-to-missing | cannot follow symbolic link " + r +
                "/link-to-missing: No such file or directory");
  add(false, r + "/locked | cannot open directory " + r + "/locked: Permission denied");
  add(true, r + "/loop | symbolic link loop: " + r + "/loop -> already visited " + r);
  add(false, r + "/nest/d1/d2/d3/deep.bmp");
  add(true, r + "/nest/up | symbolic link loop: " + r + "/nest/up -> already visited " + r);
  add(false, r + "/noexec/f.jpg");
  add(false, r + "/noexec/sub | cannot open directory " + r + "/noexec/sub: Permission denied");
  add(false, r + "/unreadable.jpg");
  add(false, r + "/zz/z.jpg");
  add(false, r + "/zz/\xC3\xA9.jpg");
  return records;
}

TEST_CASE("a tree without following links: regular files in name order, depth first") {
  Scratch scratch("plain");
  build_tree(scratch.root);
  const std::string r = scratch.root.string();
  WithoutDacOverride as_anyone;
  const std::vector<std::string> expected = expected_records(r, /*follow=*/false);
  REQUIRE(expected.size() == 11);
  CHECK(walk_all(r) == expected);
  CHECK(DirectoryWalker::total_if_cheap(r, {}) == expected.size());
}

TEST_CASE("a tree following links: links to files and directories, loops and dangling links") {
  Scratch scratch("follow");
  build_tree(scratch.root);
  const std::string r = scratch.root.string();
  WithoutDacOverride as_anyone;
  const std::vector<std::string> expected = expected_records(r, /*follow=*/true);
  REQUIRE(expected.size() == 16);
  const WalkOptions follow{.follow_symlinks = true};
  CHECK(walk_all(r, follow) == expected);
  CHECK(DirectoryWalker::total_if_cheap(r, follow) == expected.size());
}

TEST_CASE("the root: a trailing slash is not doubled, a file yields itself, a missing one fails") {
  Scratch scratch("root");
  write_file(scratch.root / "one.png");
  const std::string r = scratch.root.string();
  CHECK(walk_all(r + "/") == std::vector<std::string>{r + "/one.png"});
  CHECK(walk_all(r + "/one.png") == std::vector<std::string>{r + "/one.png"});
  CHECK(walk_all(r + "/missing") ==
        std::vector<std::string>{r + "/missing | cannot open " + r +
                                 "/missing: No such file or directory"});
  REQUIRE(::mkfifo((scratch.root / "fifo").c_str(), 0600) == 0);
  CHECK(walk_all(r + "/fifo") ==
        std::vector<std::string>{r + "/fifo | cannot walk " + r +
                                 "/fifo: neither a directory nor a regular file"});
  fs::create_directories(scratch.root / "dir");
  fs::create_symlink("dir", scratch.root / "link");
  write_file(scratch.root / "dir" / "in.jpg");
  // The root is followed even without follow_symlinks: its name was given.
  CHECK(walk_all(r + "/link") == std::vector<std::string>{r + "/link/in.jpg"});
}

TEST_CASE("lazy: the first record comes after reading only the directories on its way") {
  Scratch scratch("lazy");
  fs::create_directories(scratch.root / "a");
  write_file(scratch.root / "a" / "one.jpg");
  fs::create_directories(scratch.root / "z");
  for (int i = 0; i < 1000; ++i) write_file(scratch.root / "z" / (std::to_string(i) + ".jpg"));

  DirectoryWalker walker(scratch.root.string());
  CHECK(walker.entries_examined() == 0);
  const std::optional<WalkEntry> first = walker.next();
  REQUIRE(first);
  CHECK(first->path == scratch.root.string() + "/a/one.jpg");
  CHECK(walker.entries_examined() == 3);  // the root's "a" and "z", then a's "one.jpg"
  CHECK(walker.next()->path == scratch.root.string() + "/z/0.jpg");
  CHECK(walker.entries_examined() == 1003);
}

TEST_CASE("total_if_cheap: the number of records, nothing above the limit or when stopped") {
  Scratch scratch("total");
  for (const char* directory : {"x", "x/y", "z"}) fs::create_directories(scratch.root / directory);
  for (const char* file : {"1.jpg", "x/2.jpg", "x/y/3.jpg", "z/4.jpg"}) {
    write_file(scratch.root / file);
  }
  const std::string r = scratch.root.string();
  // 7 entries examined: 1.jpg, x, z; 2.jpg, y; 3.jpg; 4.jpg.
  CHECK(DirectoryWalker::total_if_cheap(r, {}) == 4u);
  CHECK(DirectoryWalker::total_if_cheap(r, {}, 7) == 4u);
  CHECK(DirectoryWalker::total_if_cheap(r, {}, 6) == std::nullopt);
  CHECK(DirectoryWalker::total_if_cheap(r, {}, 0) == std::nullopt);
  std::stop_source stop;
  stop.request_stop();
  CHECK(DirectoryWalker::total_if_cheap(r, {}, 100, stop.get_token()) == std::nullopt);
  CHECK(DirectoryWalker::total_if_cheap(r + "/missing", {}) == 1u);  // its one io record
}

TEST_CASE("descriptors: one per level while walking, none left after the walker") {
  Scratch scratch("descriptors");
  fs::path deep = scratch.root;
  for (int level = 0; level < 40; ++level) deep /= std::string("d").append(std::to_string(level));
  fs::create_directories(deep);
  write_file(deep / "bottom.jpg");
  write_file(scratch.root / "top.jpg");

  const std::size_t before = open_descriptors();
  {
    DirectoryWalker walker(scratch.root.string());
    const std::optional<WalkEntry> bottom = walker.next();
    REQUIRE(bottom);
    CHECK(bottom->path == (deep / "bottom.jpg").string());
    CHECK(open_descriptors() == before + 41);  // the root and its 40 levels below
    CHECK(walker.next()->path == (scratch.root / "top.jpg").string());
    CHECK(open_descriptors() == before + 1);  // back at the root
  }
  CHECK(open_descriptors() == before);
}
