// The tool over directories and with --deep. A tree with nested folders, symbolic links (a
// loop among them), unreadable entries and a file that is not an image gives the records of
// the documented order, with and without --follow-symlinks and --only-images, also where a
// list or stdin names it. Corpus images cut inside their image data are image.corrupt with
// --deep (a warning; a rejection with --strict) and pass without it; intact ones pass --deep.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cli_run.hpp"
#include "corpus.hpp"
#include "facegate/probe.hpp"
#include "servers/test_servers.hpp"

using namespace facegate::test::cli;
using facegate::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr const char* kModel = "wan2.2-s2v-detect";

// The tree (names sorted in byte order, as the walk reads them):
//   B.jpg                'B' (0x42) sorts before 'a' (0x61)
//   a/inner.png
//   a.jpg                after the directory "a": "a" < "a.jpg"
//   link.jpg -> a.jpg    a link to a file
//   locked/hidden.jpg    locked has mode 000: one io record, never entered
//   loop -> .            a loop
//   nest/d1/d2/deep.bmp
//   nest/up -> ..        a loop
//   notes.txt            not an image
//   unreadable.jpg       mode 000: walked, then an io record where it is read
class Tree {
 public:
  Tree() {
    fs::create_directories(root_ / "a");
    fs::create_directories(root_ / "nest" / "d1" / "d2");
    fs::create_directories(root_ / "locked");
    fs::copy_file(example("portrait-640x800.jpg"), root_ / "B.jpg");
    fs::copy_file(example("banner-1600x400.webp"), root_ / "a" / "inner.png");  // content decides
    fs::copy_file(example("portrait-640x800.jpg"), root_ / "a.jpg");
    fs::create_symlink("a.jpg", root_ / "link.jpg");
    fs::copy_file(example("portrait-640x800.jpg"), root_ / "locked" / "hidden.jpg");
    fs::create_symlink(".", root_ / "loop");
    fs::copy_file(example("mono-480x640.bmp"), root_ / "nest" / "d1" / "d2" / "deep.bmp");
    fs::create_symlink("..", root_ / "nest" / "up");
    facegate::test::write_text(root_ / "notes.txt", "shopping list: film, batteries\n");
    fs::copy_file(example("portrait-640x800.jpg"), root_ / "unreadable.jpg");
    fs::permissions(root_ / "locked", fs::perms::none);
    fs::permissions(root_ / "unreadable.jpg", fs::perms::none);
  }
  ~Tree() {
    std::error_code ignored;  // modes back, so that TempDir can remove it as any user
    fs::permissions(root_ / "locked", fs::perms::owner_all, ignored);
    fs::permissions(root_ / "unreadable.jpg", fs::perms::owner_all, ignored);
  }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  std::string root() const { return root_.string(); }
  std::string at(std::string_view relative) const { return (root_ / relative).string(); }

 private:
  TempDir dir_{"facegate-cli-walk-"};
  fs::path root_ = dir_.path() / "photos";
};

// The error code of a record ("" when none): probe records hold it at "error", judged ones at
// "image"."error".
std::string error_code(const std::string& line) {
  std::string error = field(line, "error");
  if (error == "<missing>") error = field(field(line, "image"), "error");
  return error == "null" ? "" : field(error, "code");
}

// Each record's source and error code, in output order.
std::vector<std::pair<std::string, std::string>> sources_and_errors(const Run& run) {
  std::vector<std::pair<std::string, std::string>> records;
  for (const std::string& line : run.lines()) records.emplace_back(field(line, "source"), error_code(line));
  return records;
}

using Expected = std::vector<std::pair<std::string, std::string>>;

// The tree's records in the documented order: the path below the root, the error code, and
// whether only --follow-symlinks gives the record.
struct TreeRecord {
  std::string_view relative, error;
  bool followed_only;
};
constexpr TreeRecord kTreeRecords[] = {
    {"B.jpg", "", false},     {"a/inner.png", "", false},          {"a.jpg", "", false},
    {"link.jpg", "", true},   {"locked", "io", false},             {"loop", "io", true},
    {"nest/d1/d2/deep.bmp", "", false},                            {"nest/up", "io", true},
    {"notes.txt", "unsupported_format", false},                    {"unreadable.jpg", "io", false}};

Expected tree_records(const Tree& tree, bool follow_symlinks) {
  Expected records;
  for (const TreeRecord& record : kTreeRecords) {
    if (follow_symlinks || !record.followed_only) {
      records.emplace_back(tree.at(record.relative), std::string(record.error));
    }
  }
  return records;
}

Expected unfollowed(const Tree& tree) { return tree_records(tree, false); }

Run walk(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
  return run(args, stdin_text, {}, /*without_dac_override=*/true);
}

// The severity of the finding `code` in a judged record, or "" when it has none.
std::string severity_of(const std::string& line, std::string_view code) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
  for (simdjson::dom::element finding : doc["findings"].get_array()) {
    if (finding["code"].get_string().value() == code) {
      return std::string(finding["severity"].get_string().value());
    }
  }
  return "";
}

bool is_rle_bmp(const fs::path& path) {
  const std::string bytes = facegate::test::read_text(path);
  return facegate::test::is_rle_bmp(std::as_bytes(std::span(bytes.data(), bytes.size())));
}

// One corpus image of each of JPEG, PNG, BMP and WebP that passes the model's header rules
// (400 to 7000 px a side, a still image; not an RLE BMP, which stb_image cannot decode).
std::vector<fs::path> corpus_samples() {
  const fs::path directory = facegate::test::corpus_directory();
  std::map<facegate::Format, fs::path> chosen;
  for (const facegate::test::CorpusFile& file : facegate::test::read_manifest(directory)) {
    const fs::path path = directory / file.name;
    const facegate::ProbeResult probe = facegate::probe_file(path);
    const facegate::ImageInfo& info = probe.info;
    const bool fits = probe.ok() && !info.animated && std::min(info.width, info.height) >= 400 &&
                      std::max(info.width, info.height) <= 7000;
    const bool rle = info.format == facegate::Format::bmp && is_rle_bmp(path);
    if (!fits || rle || chosen.count(info.format)) continue;
    chosen.emplace(info.format, path);
  }
  std::vector<fs::path> samples;
  for (const auto& entry : chosen) samples.push_back(entry.second);
  REQUIRE(samples.size() == 4);
  return samples;
}

// `sample` cut halfway between the end of its header and the end of the file, into `directory`.
fs::path cut_copy(const fs::path& sample, const fs::path& directory) {
  const facegate::ProbeResult probe = facegate::probe_file(sample);
  REQUIRE(probe.file_size.has_value());
  const std::string bytes = facegate::test::read_text(sample);
  const fs::path cut = directory / ("cut-" + sample.filename().string());
  facegate::test::write_text(cut, std::string_view(bytes).substr(0, (probe.bytes_read + bytes.size()) / 2));
  return cut;
}

std::vector<std::string> check_args(std::vector<std::string> extra, const std::vector<fs::path>& files) {
  std::vector<std::string> args{"check", "--offline", "--json", "--model", kModel};
  args.insert(args.end(), extra.begin(), extra.end());
  for (const fs::path& file : files) args.push_back(file.string());
  return args;
}

// What every record of a --deep run should say: the finding `code` at `severity` ("" = no such
// finding), and `outcome` as deep_outcome ("<missing>": no deep keys).
struct DeepExpectation {
  int exit_code;
  std::string decision, outcome, code, severity;
};

void check_deep_run(const Run& r, std::size_t count, const DeepExpectation& expected) {
  CHECK(r.exit_code == expected.exit_code);
  REQUIRE(r.lines().size() == count);
  for (const std::string& line : r.lines()) {
    INFO(line);
    CHECK(field(line, "decision") == expected.decision);
    CHECK(field(line, "deep_outcome") == expected.outcome);
    CHECK(field(line, "deep") == (expected.outcome == "<missing>" ? "<missing>" : "true"));
    CHECK((field(line, "deep_us") == "<missing>") == (expected.outcome == "<missing>"));
    CHECK(severity_of(line, expected.code) == expected.severity);
  }
}

}  // namespace

TEST_CASE("probe DIR: the regular files in name order, depth first; links not followed") {
  const Tree tree;
  const Run r = walk({"probe", "--json", tree.root()});
  CHECK(r.exit_code == 1);  // io records and a file that is not an image
  CHECK(sources_and_errors(r) == unfollowed(tree));
  const auto lines = r.lines();
  REQUIRE(lines.size() == 7);
  CHECK(field(field(lines[3], "error"), "message").find("cannot open directory") != std::string::npos);
  CHECK(field(lines[1], "format") == "webp");
  CHECK(field(lines[4], "width") == "480");
}

TEST_CASE("--follow-symlinks: links to files are walked, each loop is one io record") {
  const Tree tree;
  const Run r = walk({"probe", "--json", "--follow-symlinks", tree.root()});
  CHECK(r.exit_code == 1);
  const Expected expected = tree_records(tree, true);
  REQUIRE(expected.size() == 10);
  CHECK(sources_and_errors(r) == expected);
  for (const std::string& line : r.lines()) {
    const std::string source = field(line, "source");
    if (source == tree.at("loop") || source == tree.at("nest/up")) {
      CHECK(field(field(line, "error"), "message").find("symbolic link loop") != std::string::npos);
    }
  }
}

TEST_CASE("--only-images: no record for a file that is not an image; the summary counts it") {
  const Tree tree;
  Expected images = unfollowed(tree);
  images.erase(std::remove_if(images.begin(), images.end(),
                              [](const auto& record) { return record.second == "unsupported_format"; }),
               images.end());
  REQUIRE(images.size() == 6);

  SUBCASE("probe") {
    const Run r = walk({"probe", "--json", "--only-images", tree.root()});
    CHECK(sources_and_errors(r) == images);
    CHECK(r.err.find("not images: 1 skipped (--only-images)") != std::string::npos);
    CHECK(r.exit_code == 1);  // the io records still count
  }
  SUBCASE("check") {
    const Run all = walk(check_args({}, {tree.root()}));
    REQUIRE(all.lines().size() == 7);
    CHECK(field(all.lines()[5], "decision") == "reject");  // notes.txt: format.unknown
    CHECK(all.err.find("checked 7: 4 pass, 1 reject, 0 unknown, 2 error") != std::string::npos);

    const Run r = walk(check_args({"--only-images"}, {tree.root()}));
    CHECK(sources_and_errors(r) == images);
    CHECK(r.err.find("checked 6: 4 pass, 0 reject, 0 unknown, 2 error") != std::string::npos);
    CHECK(r.err.find("not images: 1 skipped (--only-images)") != std::string::npos);
  }
  SUBCASE("a directory of images and text files only: exit 0") {
    TempDir dir("facegate-cli-walk-");
    fs::copy_file(example("portrait-640x800.jpg"), dir.path() / "photo.jpg");
    facegate::test::write_text(dir.path() / "README", "not an image");
    CHECK(walk({"probe", "--only-images", dir.path().string()}).exit_code == 0);
    CHECK(walk({"probe", dir.path().string()}).exit_code == 1);
  }
}

TEST_CASE("a directory named on stdin or in a list is walked where it is named") {
  const Tree tree;
  const std::string before = example("small-300x300.png"), after = example("drawing.svg");
  Expected expected{{before, ""}};
  for (const auto& record : unfollowed(tree)) expected.push_back(record);
  expected.emplace_back(after, "");

  const Run from_stdin = walk({"probe", "--json", "-"}, before + "\n" + tree.root() + "\n" + after + "\n");
  CHECK(sources_and_errors(from_stdin) == expected);

  TempDir lists("facegate-cli-walk-");
  const fs::path list = lists.path() / "list.txt";
  // A root named with a trailing '/': its files' paths do not double it.
  facegate::test::write_text(list, before + "\n" + tree.root() + "/\n" + after + "\n");
  const Run from_list = walk({"probe", "--json", std::string("@").append(list.string())});
  CHECK(sources_and_errors(from_list) == expected);
}

TEST_CASE("--deep: corpus images cut inside their image data are image.corrupt") {
  TempDir dir("facegate-cli-deep-");
  std::vector<fs::path> cuts;
  for (const fs::path& sample : corpus_samples()) cuts.push_back(cut_copy(sample, dir.path()));

  // The headers are intact: without --deep the cuts pass, with no deep keys.
  check_deep_run(run(check_args({}, cuts)), cuts.size(), {0, "pass", "<missing>", "image.corrupt", ""});
  // A warning: the service's decoder may be more lenient.
  const Run deep = run(check_args({"--deep"}, cuts));
  check_deep_run(deep, cuts.size(), {0, "pass", "corrupt", "image.corrupt", "warn"});
  CHECK(deep.err.find("deep check: 4 images, 4 corrupt (image.corrupt)") != std::string::npos);
  check_deep_run(run(check_args({"--deep", "--strict"}, cuts)), cuts.size(),
                 {1, "reject", "corrupt", "image.corrupt", "reject"});
}

TEST_CASE("--deep: intact corpus images pass; --max-pixels refuses larger ones unread") {
  const std::vector<fs::path> samples = corpus_samples();
  check_deep_run(run(check_args({"--deep", "--strict"}, samples)), samples.size(),
                 {0, "pass", "ok", "image.corrupt", ""});
  // Every sample has at least 400 x 400 pixels; not decoded is no fault of the image.
  check_deep_run(run(check_args({"--deep", "--strict", "--max-pixels", "100000"}, samples)),
                 samples.size(), {0, "pass", "refused", "image.not_decoded", "info"});
}

TEST_CASE("--deep-urls: corpus images over HTTP are downloaded whole and decoded; --deep alone does not") {
  TempDir dir("facegate-cli-deep-urls-");
  std::vector<std::string> intact;
  std::vector<std::string> cuts;
  for (const fs::path& sample : corpus_samples()) {
    fs::copy_file(sample, dir.path() / sample.filename());
    intact.push_back(sample.filename().string());
    cuts.push_back(cut_copy(sample, dir.path()).filename().string());
  }
  facegate::test::NginxServer nginx(dir.path());
  const auto urls = [&](const std::vector<std::string>& names) {
    std::vector<fs::path> list;
    for (const std::string& name : names) list.emplace_back(nginx.url(name));
    return list;
  };
  const std::vector<std::string> served = {"--allow-private-network"};  // nginx on 127.0.0.1
  const auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), served.begin(), served.end());
    return extra;
  };
  check_deep_run(run(check_args(with({"--deep-urls", "--strict"}), urls(intact))), intact.size(),
                 {0, "pass", "ok", "image.corrupt", ""});
  check_deep_run(run(check_args(with({"--deep-urls"}), urls(cuts))), cuts.size(),
                 {0, "pass", "corrupt", "image.corrupt", "warn"});
  check_deep_run(run(check_args(with({"--deep-urls", "--strict"}), urls(cuts))), cuts.size(),
                 {1, "reject", "corrupt", "image.corrupt", "reject"});
  // --deep alone decodes local files only: a URL is read for its header, not downloaded.
  const Run header_only = run(check_args(with({"--deep"}), urls(cuts)));
  check_deep_run(header_only, cuts.size(), {0, "pass", "<missing>", "image.corrupt", ""});
  for (const std::string& line : header_only.lines()) {
    INFO(line);
    simdjson::dom::parser parser;
    std::uint64_t transferred = 0;
    REQUIRE(parser.parse(line).at_pointer("/image/bytes_transferred").get(transferred) ==
            simdjson::SUCCESS);
    CHECK(transferred < 4096);
  }
}

TEST_CASE("--max-pixels and --deep-jobs need --deep or --deep-urls") {
  CHECK(run({"check", "--offline", "--model", kModel, "--max-pixels", "100", example("portrait-640x800.jpg")})
            .exit_code == 2);
  CHECK(run({"check", "--offline", "--model", kModel, "--deep-jobs", "2", example("portrait-640x800.jpg")})
            .exit_code == 2);
  CHECK(run({"check", "--offline", "--model", kModel, "--deep", "--deep-jobs", "1",
             example("portrait-640x800.jpg")})
            .exit_code == 0);
  CHECK(run({"check", "--offline", "--model", kModel, "--deep-urls", "--max-pixels", "100",
             example("portrait-640x800.jpg")})
            .exit_code == 0);
}

TEST_CASE("--deep: a stream (process substitution) is read once, by the header check") {
  const Run r = run_bash("\"$1\" check --offline --json --deep --model wan2.2-s2v-detect <(cat '" +
                         example("portrait-640x800.jpg") + "')");
  check_deep_run(r, 1, {0, "pass", "not_checked", "image.not_decoded", "info"});
}
