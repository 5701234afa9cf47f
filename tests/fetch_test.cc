// Remote headers (include/facegate/fetch.hpp): unit checks of the pieces, then real servers on
// loopback: nginx (Range) over the whole libjxl-testdata JPEG/PNG corpus against probe_file,
// and tests/servers/fault_server.py for servers that lie, stall or redirect badly.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "facegate/check.hpp"
#include "facegate/fetch.hpp"
#include "net/address.hpp"
#include "net/http_headers.hpp"
#include "net/range_plan.hpp"
#include "net/safe_transfer.hpp"
#include "probe_answer.hpp"
#include "servers/test_servers.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using facegate::ErrorCode;
using facegate::FetchOptions;
using facegate::ProbeResult;
using facegate::detail::AddressScope;
using facegate::test::fields_of;
using facegate::test::read_bytes;

const fs::path kCorpus = "/usr/share/libjxl-testdata";
// Sample files whose headers the fault tests read: a PNG whose IHDR is in the first 33
// bytes, a large one (4 MB) that must never be downloaded whole, and a JPEG whose frame
// header lies past byte 100.
const std::string kSmallPng = "libjxl/external/pngsuite/g10n3p04.png";
const std::string kLargePng = "libjxl/jxl/flower/flower.png";
const std::string kJpeg = "libjxl/jxl/flower/flower_small.q85_444_non_interleaved.jpg";

// A served file whose name needs percent-encoding in a URL ("café portrait.jpg"), and that
// name as normalize_url spells it.
const std::string kRawName = "caf\xc3\xa9 portrait.jpg";
const std::string kEncodedName = "caf%C3%A9%20portrait.jpg";

// Loopback servers are allowed; nothing else is.
FetchOptions loopback_options() {
  FetchOptions options;
  options.allow_loopback = true;
  options.deadline = 5s;
  options.connect_timeout = 2s;
  return options;
}

std::vector<fs::path> corpus_images() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kCorpus)) {
    const auto extension = entry.path().extension();
    if (entry.is_regular_file() && (extension == ".jpg" || extension == ".png")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The directory both servers serve: libjxl/ is the corpus, crafted/ the project's crafted
// samples, converted/ WebP and BMP made from corpus PNGs at test time.
class ServedTree {
 public:
  ServedTree() : dir_("facegate-served-") {
    fs::create_directory_symlink(kCorpus, dir_.path() / "libjxl");
    const fs::path crafted = facegate::test::source_root() / "tests" / "data" / "crafted";
    if (fs::is_directory(crafted)) fs::create_directory_symlink(crafted, dir_.path() / "crafted");
    write_empty(dir_.path() / "empty.jpg");
    // A name with raw UTF-8 and a space: its URL must be percent-encoded to be fetched.
    fs::copy_file(facegate::test::source_root() / "examples" / "portrait-640x800.jpg",
                  dir_.path() / kRawName);
    write_prefix(kCorpus / "jxl/flower/flower_small.q85_444_non_interleaved.jpg", 150,
                 dir_.path() / "truncated.jpg");
    const fs::path converted = dir_.path() / "converted";
    fs::create_directory(converted);
    const fs::path source = kCorpus / "external/wesaturate/64px/vgqcws_vin_srgb8.png";
    run({facegate::test::find_program({"cwebp"}).string(), "-quiet", "-q", "80",
         source.string(), "-o", (converted / "lossy.webp").string()});
    run({facegate::test::find_program({"cwebp"}).string(), "-quiet", "-lossless",
         source.string(), "-o", (converted / "lossless.webp").string()});
    run({facegate::test::find_program({"convert"}).string(), source.string(),
         (converted / "v5.bmp").string()});
    run({facegate::test::find_program({"convert"}).string(), source.string(),
         "BMP3:" + (converted / "v3.bmp").string()});
  }
  const fs::path& path() const { return dir_.path(); }

  // Every file below the tree, as paths relative to it.
  std::vector<std::string> all_files() const {
    std::vector<std::string> files;
    for (const fs::path& file : corpus_images()) {
      files.push_back("libjxl/" + fs::relative(file, kCorpus).string());
    }
    for (const char* subdir : {"crafted", "converted"}) {
      if (!fs::is_directory(dir_.path() / subdir)) continue;
      for (const auto& entry : fs::directory_iterator(dir_.path() / subdir)) {
        if (entry.is_regular_file()) {
          files.push_back(std::string(subdir) + "/" + entry.path().filename().string());
        }
      }
    }
    return files;
  }

 private:
  static void write_empty(const fs::path& path) { std::ofstream(path, std::ios::binary).flush(); }
  static void write_prefix(const fs::path& from, std::size_t length, const fs::path& to) {
    std::ifstream in(from, std::ios::binary);
    std::string bytes(length, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(length));
    std::ofstream(to, std::ios::binary).write(bytes.data(), in.gcount());
  }
  static void run(const std::vector<std::string>& argv) {
    facegate::test::ChildProcess child(argv, /*capture_stdout=*/true);
    if (child.wait() != 0) throw std::runtime_error("conversion failed: " + argv[0]);
  }
  facegate::test::TempDir dir_;
};

// One set of servers for the whole test program: starting nginx and Python costs time.
struct Servers {
  ServedTree tree;
  facegate::test::SelfSignedCertificate certificate;
  facegate::test::NginxServer nginx{tree.path(), &certificate};
  facegate::test::FaultServer faults{tree.path()};
};

Servers& servers() {
  static Servers instance;
  return instance;
}

// The result of probing the file behind `relative` from disk.
facegate::ProbeResult from_disk(const std::string& relative) {
  return facegate::probe_file(servers().tree.path() / relative);
}

// A URL result gives probe_file's answer for the same bytes: the fetch error that stands for
// the probe's error, with the probe's message, and the same header fields.
void check_same_answer(const ProbeResult& remote, const facegate::ProbeResult& local) {
  INFO(facegate::error_code_name(remote.error.code) << " " << remote.error.message);
  CHECK(remote.error.code == local.error.code);
  CHECK(remote.error.message == local.error.message);
  CHECK(fields_of(remote.info) == fields_of(local.info));
}

// A URL result agrees with probe_file on the same bytes: same answer, same size.
void check_same_as_disk(const ProbeResult& remote, const std::string& relative) {
  INFO(relative);
  check_same_answer(remote, from_disk(relative));
  REQUIRE(remote.file_size.has_value());
  CHECK(*remote.file_size == fs::file_size(servers().tree.path() / relative));
}

// bytes_transferred counts every byte received: `body` body bytes plus the headers of
// `responses` responses, each under 512 bytes from the test servers.
void check_received(const ProbeResult& result, std::uint64_t body, std::uint64_t responses) {
  const std::uint64_t received = result.network->bytes_transferred;
  CHECK(received > body);
  CHECK(received <= body + responses * 512);
}

// The bytes fault_server.py wrote in a counted mode (its file ROOT/sent-NAME), once the
// server has stopped: the count changes no more for 200 ms.
std::uint64_t final_server_count(const std::string& name) {
  std::uint64_t last = 0;
  int unchanged = 0;
  for (int i = 0; i < 500 && unchanged < 20; ++i) {
    std::this_thread::sleep_for(10ms);
    std::uint64_t now = 0;
    std::ifstream(servers().tree.path() / ("sent-" + name)) >> now;
    unchanged = now != 0 && now == last ? unchanged + 1 : 0;
    last = std::max(last, now);
  }
  return last;
}

// The value of the " name=" field of an nginx access log line (format "fetch" of
// nginx.conf.in).
std::string log_field(const std::string& line, const std::string& name) {
  const std::string key = " " + name + "=";
  const auto at = line.find(key);
  REQUIRE_MESSAGE(at != std::string::npos, "no " << name << " field: " << line);
  const auto value = at + key.size();
  return line.substr(value, line.find(' ', value) - value);
}

// The "connection=N" field of an nginx access log line: requests with the same one came on
// the same connection.
std::string connection_of(const std::string& line) { return log_field(line, "connection"); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pieces

TEST_CASE("error code names are stable and distinct") {
  std::set<std::string_view> names;
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    names.insert(facegate::error_code_name(static_cast<ErrorCode>(i)));
  }
  CHECK(names.size() == static_cast<std::size_t>(ErrorCode::internal) + 1);
  CHECK(facegate::error_code_name(ErrorCode::private_address) == "private_address");
  CHECK(facegate::error_code_name(ErrorCode::too_many_redirects) == "too_many_redirects");
  CHECK(facegate::error_code_name(ErrorCode::byte_cap) == "byte_cap");
  CHECK(facegate::is_image_fault(ErrorCode::truncated));
  CHECK(!facegate::is_image_fault(ErrorCode::dns));
}

TEST_CASE("libcurl results map to fetch errors") {
  using facegate::detail::error_code_from_curl;
  CHECK(error_code_from_curl(CURLE_OK) == ErrorCode::none);
  CHECK(error_code_from_curl(CURLE_COULDNT_RESOLVE_HOST) == ErrorCode::dns);
  CHECK(error_code_from_curl(CURLE_COULDNT_CONNECT) == ErrorCode::connect);
  CHECK(error_code_from_curl(CURLE_PEER_FAILED_VERIFICATION) == ErrorCode::tls);
  CHECK(error_code_from_curl(CURLE_SSL_CONNECT_ERROR) == ErrorCode::tls);
  CHECK(error_code_from_curl(CURLE_OPERATION_TIMEDOUT) == ErrorCode::timeout);
  CHECK(error_code_from_curl(CURLE_TOO_MANY_REDIRECTS) == ErrorCode::too_many_redirects);
  CHECK(error_code_from_curl(CURLE_UNSUPPORTED_PROTOCOL) == ErrorCode::scheme);
  CHECK(error_code_from_curl(CURLE_PARTIAL_FILE) == ErrorCode::protocol);
  CHECK(error_code_from_curl(CURLE_RECV_ERROR) == ErrorCode::network);
  CHECK(error_code_from_curl(CURLE_WEIRD_SERVER_REPLY) == ErrorCode::protocol);
}

TEST_CASE("libcurl results after a request was sent name the server's answer") {
  using facegate::detail::error_code_from_curl;
  using facegate::detail::TransferStage;
  // Not yet sent: the URL's scheme, a setup failure.
  CHECK(error_code_from_curl(CURLE_UNSUPPORTED_PROTOCOL, TransferStage::setup) ==
        ErrorCode::scheme);
  CHECK(error_code_from_curl(CURLE_OUT_OF_MEMORY, TransferStage::setup) == ErrorCode::internal);
  // Sent: a status line libcurl rejects (HTTP/0.9), a header too large for its buffers.
  CHECK(error_code_from_curl(CURLE_UNSUPPORTED_PROTOCOL, TransferStage::sent) ==
        ErrorCode::protocol);
  CHECK(error_code_from_curl(CURLE_OUT_OF_MEMORY, TransferStage::sent) == ErrorCode::protocol);
  // Answered: a redirect libcurl would not follow is the redirect's scheme.
  CHECK(error_code_from_curl(CURLE_UNSUPPORTED_PROTOCOL, TransferStage::answered) ==
        ErrorCode::scheme);
  CHECK(error_code_from_curl(CURLE_OUT_OF_MEMORY, TransferStage::answered) ==
        ErrorCode::protocol);
  CHECK(error_code_from_curl(CURLE_RECV_ERROR, TransferStage::answered) == ErrorCode::network);
}

TEST_CASE("address scopes follow the special-purpose registries") {
  using facegate::detail::literal_address_scope;
  const std::pair<const char*, AddressScope> cases[] = {
      {"8.8.8.8", AddressScope::public_unicast},
      {"127.0.0.1", AddressScope::loopback},
      {"127.255.255.254", AddressScope::loopback},
      {"10.0.0.1", AddressScope::private_network},
      {"172.16.0.1", AddressScope::private_network},
      {"172.31.255.255", AddressScope::private_network},
      {"172.32.0.1", AddressScope::public_unicast},
      {"192.168.1.1", AddressScope::private_network},
      {"100.64.0.1", AddressScope::private_network},
      {"100.127.255.255", AddressScope::private_network},
      {"100.128.0.1", AddressScope::public_unicast},
      {"169.254.169.254", AddressScope::link_local},
      {"0.0.0.0", AddressScope::unspecified},
      {"224.0.0.1", AddressScope::multicast},
      {"255.255.255.255", AddressScope::reserved},
      {"192.0.2.1", AddressScope::reserved},
      {"::", AddressScope::unspecified},
      {"::1", AddressScope::loopback},
      {"[::1]", AddressScope::loopback},
      {"::ffff:127.0.0.1", AddressScope::loopback},
      {"::ffff:10.1.2.3", AddressScope::private_network},
      {"::ffff:8.8.8.8", AddressScope::public_unicast},
      {"64:ff9b::a9fe:a9fe", AddressScope::link_local},
      {"2002:c0a8:0101::1", AddressScope::private_network},
      {"fc00::1", AddressScope::private_network},
      {"fd12:3456::1", AddressScope::private_network},
      {"fe80::1", AddressScope::link_local},
      {"fe80::1%eth0", AddressScope::link_local},
      {"fec0::1", AddressScope::private_network},
      {"ff02::1", AddressScope::multicast},
      {"2001:db8::1", AddressScope::reserved},
      {"2606:4700::1111", AddressScope::public_unicast},
  };
  for (const auto& [literal, expected] : cases) {
    const std::string text = literal;  // a copy: clang 14 cannot capture bindings in INFO
    INFO(text);
    const auto found = literal_address_scope(text);
    REQUIRE(found.has_value());
    CHECK(*found == expected);
  }
  CHECK_FALSE(literal_address_scope("example.com").has_value());
  CHECK_FALSE(literal_address_scope("").has_value());
}

TEST_CASE("url_is_public judges scheme and literal hosts") {
  CHECK(facegate::url_is_public("https://example.com/a.jpg"));
  CHECK(facegate::url_is_public("HTTP://Example.com:8080/a.jpg?x=1"));
  CHECK(facegate::url_is_public("http://8.8.8.8/a.jpg"));
  CHECK(facegate::check_public_url("http://10.0.0.1/a.jpg") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://127.0.0.1:8080/") == ErrorCode::private_address);
  // libcurl normalizes other IPv4 spellings before the check.
  CHECK(facegate::check_public_url("http://2130706433/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://0x7f.1/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://0177.0.0.1/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://[::1]/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://[::ffff:192.168.0.1]/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://[fe80::1%25eth0]/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://169.254.169.254/latest/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://localhost/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://LOCALHOST./") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("http://img.localhost/") == ErrorCode::private_address);
  CHECK(facegate::check_public_url("file:///etc/passwd") == ErrorCode::scheme);
  CHECK(facegate::check_public_url("ftp://example.com/a.jpg") == ErrorCode::scheme);
  CHECK(facegate::check_public_url("gopher://example.com/") == ErrorCode::scheme);
  CHECK(facegate::check_public_url("example.com/a.jpg") == ErrorCode::bad_url);
  CHECK(facegate::check_public_url("http://exa mple.com/") == ErrorCode::bad_url);
}

TEST_CASE("the address guard refuses what its policy does not allow, and says why") {
  facegate::detail::AddressGuard strict(facegate::detail::AddressPolicy{});
  CHECK_FALSE(strict.allow_request("127.0.0.1"));
  CHECK(strict.refusal().find("127.0.0.1") != std::string::npos);
  CHECK(strict.refusal().find("loopback") != std::string::npos);
  CHECK_FALSE(strict.allow_request("::ffff:10.0.0.1"));
  CHECK_FALSE(strict.allow_request("not an address"));
  CHECK(strict.allow_request("8.8.8.8"));
  CHECK(strict.requests_sent() == 1);
  strict.reset_refusal();
  CHECK(strict.refusal().empty());

  facegate::detail::AddressGuard loopback_only(facegate::detail::AddressPolicy{true, false});
  CHECK(loopback_only.allow_request("::1"));
  CHECK_FALSE(loopback_only.allow_request("10.0.0.1"));
  CHECK_FALSE(loopback_only.allow_request("0.0.0.0"));  // reaches the local host on Linux
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "192.168.0.10", &v4.sin_addr);
  CHECK_FALSE(loopback_only.allow_connect(reinterpret_cast<const sockaddr*>(&v4), sizeof v4));
  CHECK(loopback_only.refusal().find("192.168.0.10") != std::string::npos);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
  CHECK(loopback_only.allow_connect(reinterpret_cast<const sockaddr*>(&v6), sizeof v6));

  facegate::detail::AddressGuard everything(facegate::detail::AddressPolicy{false, true});
  CHECK(everything.allow_request("169.254.169.254"));
}

TEST_CASE("looks_like_url tells URLs from paths") {
  CHECK(facegate::looks_like_url("https://example.com/a.jpg"));
  CHECK(facegate::looks_like_url("HTTP://x"));
  CHECK(facegate::looks_like_url("ftp://x/y"));
  CHECK(facegate::looks_like_url("svn+ssh://x"));
  CHECK_FALSE(facegate::looks_like_url("photos/a.jpg"));
  CHECK_FALSE(facegate::looks_like_url("/abs/path://x.jpg"));
  CHECK_FALSE(facegate::looks_like_url("://x"));
  CHECK_FALSE(facegate::looks_like_url("C:\\photos\\a.jpg"));
  CHECK_FALSE(facegate::looks_like_url("1http://x"));
}

TEST_CASE("normalize_url percent-encodes what RFC 3986 does not allow, after the host only") {
  using facegate::normalize_url;
  CHECK(normalize_url("http://h/caf\xc3\xa9.jpg") == "http://h/caf%C3%A9.jpg");
  CHECK(normalize_url("http://h/a b.jpg?q=x y#f g") == "http://h/a%20b.jpg?q=x%20y#f%20g");
  CHECK(normalize_url("http://h/%41%e9%2F") == "http://h/%41%e9%2F");  // escapes stay
  CHECK(normalize_url("http://h/100%") == "http://h/100%25");          // a lone % does not
  CHECK(normalize_url("http://h/%4") == "http://h/%254");
  CHECK(normalize_url("http://h/<\"{|}>^`\\\x7f\x01") ==
        "http://h/%3C%22%7B%7C%7D%3E%5E%60%5C%7F%01");
  const std::string allowed = "https://u@h:8/a-._~:/?#[]@!$&'()*+,;=Z9";
  CHECK(normalize_url(allowed) == allowed);
  CHECK(normalize_url("https://a b/") == "https://a b/");  // the host is not escaped: malformed
  CHECK(normalize_url(normalize_url("http://h/\xc3\xa9 %")) == "http://h/%C3%A9%20%25");
}

TEST_CASE("Content-Range and Content-Length parse strictly") {
  using facegate::detail::parse_content_length;
  using facegate::detail::parse_content_range;
  auto range = parse_content_range("bytes 0-99/1234");
  REQUIRE(range.has_value());
  CHECK(*range->first == 0);
  CHECK(*range->last == 99);
  CHECK(*range->total == 1234);
  range = parse_content_range("bytes 100-199/*");
  REQUIRE(range.has_value());
  CHECK_FALSE(range->total.has_value());
  range = parse_content_range("bytes */500");
  REQUIRE(range.has_value());
  CHECK_FALSE(range->first.has_value());
  CHECK(*range->total == 500);
  CHECK_FALSE(parse_content_range("bytes 5-4/10"));       // first > last
  CHECK_FALSE(parse_content_range("bytes 0-10/10"));      // last past the end
  CHECK_FALSE(parse_content_range("bytes */*"));
  CHECK_FALSE(parse_content_range("items 0-1/2"));
  CHECK_FALSE(parse_content_range("bytes 0-1"));
  CHECK_FALSE(parse_content_range("bytes -1-5/10"));
  CHECK_FALSE(parse_content_range("bytes 0-99999999999999999999/*"));  // overflow
  CHECK(parse_content_length(" 42 ") == 42u);
  CHECK_FALSE(parse_content_length("42x"));
  CHECK_FALSE(parse_content_length(""));
  CHECK_FALSE(parse_content_length("-1"));
  CHECK_FALSE(parse_content_length("18446744073709551616"));

  facegate::detail::ResponseFields fields;
  fields.read_line("HTTP/1.1 302 Found\r\n");
  fields.read_line("Content-Encoding: gzip\r\n");
  fields.read_line("HTTP/2 206\r\n");  // a new response forgets the redirect's fields
  fields.read_line("content-range: bytes 0-9/20\r\n");
  fields.read_line("Content-Length: 10\r\n");
  CHECK(fields.identity_encoded());
  CHECK(fields.has_content_range);
  CHECK(*fields.content_length == 10);
  CHECK(*fields.content_range->total == 20);
}

TEST_CASE("range plan: first range, doubling further ranges, budget and file end") {
  using facegate::detail::kDefaultRangePolicy;
  using facegate::detail::plan_range;
  const std::uint64_t cap = 1u << 20;
  auto first = plan_range({0, 16}, 0, kDefaultRangePolicy, cap, std::nullopt);
  REQUIRE(first.has_value());
  CHECK(first->offset == 0);
  CHECK(first->length == kDefaultRangePolicy.first_length);
  auto second = plan_range({70000, 4}, 1, kDefaultRangePolicy, cap, std::nullopt);
  auto third = plan_range({90000, 4}, 2, kDefaultRangePolicy, cap, std::nullopt);
  REQUIRE(second.has_value());
  REQUIRE(third.has_value());
  CHECK(second->offset == 70000);
  CHECK(second->length == kDefaultRangePolicy.further_length);
  CHECK(third->length == 2 * second->length);
  // A want longer than the planned length is asked whole.
  CHECK(plan_range({0, 50000}, 0, kDefaultRangePolicy, cap, std::nullopt)->length == 50000);
  // Budget and file end clip; nothing left gives nothing to ask.
  CHECK(plan_range({0, 16}, 0, kDefaultRangePolicy, 100, std::nullopt)->length == 100);
  CHECK(plan_range({1000, 16}, 1, kDefaultRangePolicy, cap, 1500)->length == 500);
  CHECK_FALSE(plan_range({1500, 16}, 1, kDefaultRangePolicy, cap, 1500));
  CHECK_FALSE(plan_range({0, 16}, 1, kDefaultRangePolicy, 0, std::nullopt));
  // Never past the largest offset.
  auto last = plan_range({UINT64_MAX - 10, 4}, 1, kDefaultRangePolicy, cap, std::nullopt);
  REQUIRE(last.has_value());
  CHECK(last->length == 10);
  // Many requests do not overflow the shift.
  CHECK(plan_range({0, 4}, 1000, kDefaultRangePolicy, cap, std::nullopt)->length == cap);
}

// ---------------------------------------------------------------------------------------------
// nginx: a correct, Range-capable server

TEST_CASE("nginx: every corpus file probes the same over HTTP as from disk") {
  const std::vector<std::string> files = servers().tree.all_files();
  REQUIRE(files.size() >= 84 + 4);  // libjxl-testdata's JPEG/PNG files and the conversions
  std::vector<std::string> urls;
  for (const auto& file : files) urls.push_back(servers().nginx.url(file));
  const auto results = facegate::probe_urls(urls, loopback_options());
  REQUIRE(results.size() == files.size());
  std::size_t parsed = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const ProbeResult& result = results[i];
    check_same_as_disk(result, files[i]);
    CHECK(result.network->http_status == 206);
    CHECK(result.network->requests >= 1);
    CHECK(result.bytes_read <= result.network->bytes_transferred);
    CHECK(result.network->bytes_transferred <= FetchOptions{}.byte_cap);
    // A header fetch never reads a large file whole.
    const auto size = fs::file_size(servers().tree.path() / files[i]);
    if (size > 128 * 1024) CHECK(result.network->bytes_transferred < size / 2);
    parsed += result.ok();
  }
  // Corpus files are real images: once the parsers exist, the probe answers for them all.
  MESSAGE(parsed << " of " << files.size() << " files probed to an answer");
}

TEST_CASE("nginx: a further range starts at want().offset, on the same connection") {
  // A wide-gamut PNG: its 18 KB iCCP chunk pushes the first IDAT past the first range.
  const std::string file = "libjxl/external/wide-gamut-tests/P3-sRGB-blue.png";
  const std::vector<std::byte> bytes = read_bytes(servers().tree.path() / file);
  const std::uint32_t first = facegate::detail::kDefaultRangePolicy.first_length;
  REQUIRE(bytes.size() > first);
  // What the probe wants after the first range, computed here from the file itself.
  facegate::Probe probe;
  probe.feed(0, std::span(bytes).first(first));
  REQUIRE(probe.status() == facegate::Status::need_more);
  const std::uint64_t next = probe.want().offset;

  const std::size_t log_before = servers().nginx.access_log_mark();
  const ProbeResult result = facegate::probe_url(servers().nginx.url(file), loopback_options());
  check_same_as_disk(result, file);
  CHECK(result.network->requests == 2);
  const std::uint64_t second_length =
      std::min<std::uint64_t>(facegate::detail::kDefaultRangePolicy.further_length,
                              bytes.size() - next);
  check_received(result, first + second_length, 2);

  const std::vector<std::string> lines = servers().nginx.access_log_since(log_before);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("206 range=bytes=0-" + std::to_string(first - 1) + " ") != std::string::npos);
  CHECK(lines[1].find("206 range=bytes=" + std::to_string(next) + "-" +
                      std::to_string(next + second_length - 1) + " ") != std::string::npos);
  CHECK(connection_of(lines[0]) == connection_of(lines[1]));
}

TEST_CASE("nginx: a URL with raw UTF-8 and a space is fetched, and sent, percent-encoded") {
  const std::string raw = servers().nginx.url(kRawName);
  const std::string encoded = servers().nginx.url(kEncodedName);
  REQUIRE(raw != encoded);
  CHECK(facegate::normalize_url(raw) == encoded);
  const std::size_t log_before = servers().nginx.access_log_mark();
  const ProbeResult fetched = facegate::probe_url(raw, loopback_options());
  CHECK(fetched.ok());
  CHECK(fetched.network->final_url == encoded);
  const auto log = servers().nginx.access_log_since(log_before);
  REQUIRE(log.size() == 1);
  INFO(log.front());
  CHECK(log.front().find("target=/" + kEncodedName) != std::string::npos);

  // The detector request of the same input names the URL fetched; the record keeps the input.
  facegate::CheckerOptions options;
  options.model = "wan2.2-s2v-detect";
  options.fetch = loopback_options();
  options.fetch.allow_private_network = true;  // else the URL rule rejects the loopback URL
  options.remote = facegate::RemoteMode::dry_run;
  std::vector<facegate::CheckRecord> records;
  {
    facegate::CheckerResult made = facegate::Checker::create(
        options, [&records](facegate::CheckRecord record) { records.push_back(std::move(record)); });
    REQUIRE(made.ok());
    made.checker->submit(facegate::CheckInput::from_text(raw));
    made.checker->finish();
  }
  REQUIRE(records.size() == 1);
  const facegate::CheckRecord& record = records.front();
  CHECK(record.source == raw);
  REQUIRE(record.probe.network.has_value());
  CHECK(record.probe.network->final_url == encoded);
  INFO(record.probe.error.message);
  REQUIRE(record.verdict.has_value());
  CHECK(record.verdict->decision == facegate::Decision::pass);
  REQUIRE(record.dry_run.has_value());
  CHECK(record.dry_run->body.find("\"image_url\":\"" + encoded + "\"") != std::string::npos);
  CHECK(record.dry_run->body.find("\xef\xbf\xbd") == std::string::npos);  // no U+FFFD
}

TEST_CASE("nginx: an empty file is the probe's end of input") {
  const ProbeResult result = facegate::probe_url(servers().nginx.url("empty.jpg"),
                                                 loopback_options());
  CHECK(result.error.code == from_disk("empty.jpg").error.code);
  CHECK(result.error.code != ErrorCode::none);
  CHECK(result.file_size == 0u);
}

TEST_CASE("nginx: one connection serves a host's URLs in turn") {
  facegate::NetworkLoop loop({/*max_transfers=*/4, /*max_transfers_per_host=*/1});
  const std::size_t log_before = servers().nginx.access_log_mark();
  std::vector<ProbeResult> results;
  const std::vector<std::string> files = {kSmallPng, kJpeg, kLargePng,
                                          "libjxl/jxl/flower/flower.png.im_q85_420.jpg"};
  for (const auto& file : files) {
    facegate::probe_url_async(loop, servers().nginx.url(file), loopback_options(),
                              [&results](ProbeResult r) { results.push_back(std::move(r)); });
  }
  loop.run();
  REQUIRE(results.size() == files.size());
  for (const auto& result : results) CHECK(result.ok());
  // The access log's connection numbers: all requests of this loop on one connection.
  const std::vector<std::string> lines = servers().nginx.access_log_since(log_before);
  std::set<std::string> connections;
  for (const std::string& line : lines) connections.insert(connection_of(line));
  CHECK(lines.size() >= files.size());
  CHECK(connections.size() == 1);
}

TEST_CASE("nginx: over kept-alive connections each URL counts exactly the bytes sent for it") {
  // libcurl can run several transfers in turn on one connection within one call, before the
  // loop hears that the first is done: the first's count must end where the next began.
  const std::vector<std::string> files = {kSmallPng, kJpeg, kLargePng,
                                          "libjxl/external/wide-gamut-tests/P3-sRGB-blue.png",
                                          "libjxl/jxl/flower/flower.png.im_q85_420.jpg"};
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < 500; ++i) {
    urls.push_back(servers().nginx.url(files[i % files.size()]) + "?n=" + std::to_string(i));
  }
  const std::size_t log_before = servers().nginx.access_log_mark();
  const auto results = facegate::probe_urls(urls, loopback_options(), {/*max_transfers=*/16, 4});
  // What nginx sent for each URL (status line, headers and body of all its requests).
  std::map<std::string, std::uint64_t> sent;
  std::set<std::string> connections;
  for (const std::string& line : servers().nginx.access_log_since(log_before)) {
    sent[log_field(line, "target")] += std::stoull(log_field(line, "bytes"));
    connections.insert(connection_of(line));
  }
  CHECK(connections.size() <= 4);  // a few connections, each kept alive for many requests
  REQUIRE(results.size() == urls.size());
  std::size_t differing = 0;
  std::string examples;  // the first few
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const std::string target = urls[i].substr(servers().nginx.url("").size() - 1);
    const std::uint64_t counted = results[i].network->bytes_transferred;
    CHECK(sent[target] > 0);
    if (counted == sent[target]) continue;
    if (++differing <= 5) {
      examples += target + ": " + std::to_string(counted) + " counted, " +
                  std::to_string(sent[target]) + " sent; ";
    }
  }
  CHECK_MESSAGE(differing == 0, differing << " URLs counted other bytes: " << examples);
}

TEST_CASE("nginx: HTTPS with HTTP/2, verified against the test's own certificate") {
  FetchOptions options = loopback_options();
  options.ca_file = servers().certificate.certificate().string();
  const std::vector<std::string> files = {
      kSmallPng, kJpeg, kLargePng, "libjxl/external/wide-gamut-tests/P3-sRGB-blue.png",
      "libjxl/jxl/flower/flower.png.im_q85_420.jpg", "converted/lossy.webp"};
  std::vector<std::string> urls;
  for (const auto& file : files) urls.push_back(servers().nginx.tls_url(file));
  const std::size_t log_before = servers().nginx.access_log_mark();
  const auto results = facegate::probe_urls(urls, options);
  for (std::size_t i = 0; i < files.size(); ++i) check_same_as_disk(results[i], files[i]);
  // All requests as HTTP/2 streams of one connection.
  const std::vector<std::string> lines = servers().nginx.access_log_since(log_before);
  std::set<std::string> connections;
  for (const std::string& line : lines) {
    CHECK(line.find(" HTTP/2.0 ") != std::string::npos);
    connections.insert(connection_of(line));
  }
  CHECK(lines.size() >= files.size());
  CHECK(connections.size() == 1);
}

TEST_CASE("nginx: TLS verification is always on") {
  const ProbeResult result = facegate::probe_url(servers().nginx.tls_url(kSmallPng),
                                                 loopback_options());
  CHECK(result.error.code == ErrorCode::tls);
  CHECK(result.network->requests == 0);
  CHECK_FALSE(result.error.message.empty());
}

TEST_CASE("loopback is refused unless allowed, before any request") {
  const std::size_t log_before = servers().nginx.access_log_mark();
  const ProbeResult refused = facegate::probe_url(servers().nginx.url(kSmallPng));
  CHECK(refused.error.code == ErrorCode::private_address);
  CHECK(refused.network->requests == 0);
  CHECK(refused.network->bytes_transferred == 0);
  CHECK(servers().nginx.access_log_since(log_before).empty());

  FetchOptions private_network;
  private_network.allow_private_network = true;
  const ProbeResult allowed = facegate::probe_url(servers().nginx.url(kSmallPng), private_network);
  check_same_as_disk(allowed, kSmallPng);
}

TEST_CASE("a closed loopback port gives connect") {
  const auto port = facegate::test::free_loopback_port();
  const ProbeResult result =
      facegate::probe_url(facegate::test::loopback_url(port, "x.png"), loopback_options());
  CHECK(result.error.code == ErrorCode::connect);
  CHECK(result.network->requests == 0);
}

TEST_CASE("URLs refused before any connection still get one result each, in order") {
  const std::vector<std::string> urls = {"ftp://example.com/a.jpg", "not a url",
                                         "http://10.0.0.1/a.jpg", "file:///etc/passwd",
                                         servers().nginx.url(kSmallPng)};
  const auto results = facegate::probe_urls(urls, loopback_options());
  REQUIRE(results.size() == urls.size());
  CHECK(results[0].error.code == ErrorCode::scheme);
  CHECK(results[1].error.code == ErrorCode::bad_url);
  CHECK(results[2].error.code == ErrorCode::private_address);
  CHECK(results[3].error.code == ErrorCode::scheme);
  CHECK(results[4].ok() == from_disk(kSmallPng).ok());
  for (const auto& result : results) CHECK(result.network.has_value());
}

// ---------------------------------------------------------------------------------------------
// fault_server.py: servers that ignore, lie, stall and redirect

TEST_CASE("a server that ignores Range: streamed, stopped once the probe is done") {
  const ProbeResult small = facegate::probe_url(
      servers().faults.url("ignore_range/" + kSmallPng), loopback_options());
  check_same_as_disk(small, kSmallPng);
  CHECK(small.network->http_status == 200);
  const ProbeResult large = facegate::probe_url(
      servers().faults.url("ignore_range/" + kLargePng), loopback_options());
  check_same_as_disk(large, kLargePng);
  if (large.ok()) CHECK(large.network->bytes_transferred < 1024 * 1024);
}

TEST_CASE("a 206 that does not match the range asked is refused") {
  const ProbeResult result = facegate::probe_url(
      servers().faults.url("wrong_range/" + kJpeg), loopback_options());
  CHECK(result.error.code == ErrorCode::bad_range);
  CHECK(result.error.message.find("asked bytes 0-1023") != std::string::npos);
  CHECK(result.info.width == 0);
}

TEST_CASE("a 206 body longer than its Content-Range never reaches the probe") {
  // "bytes 0-99/size", then the whole file: the JPEG's frame header lies past byte 100, so
  // only the refusal can come out; feeding the excess would have given dimensions.
  const facegate::ProbeResult disk = from_disk(kJpeg);
  const ProbeResult result = facegate::probe_url(
      servers().faults.url("overlong_range/" + kJpeg), loopback_options());
  CHECK(result.error.code == ErrorCode::bad_range);
  CHECK(result.bytes_read <= 100);
  CHECK(result.info.width == 0);
  CHECK_FALSE(disk.error);  // the file itself is fine: only the transport was wrong
}

TEST_CASE("a server that answers less than asked is asked again from want().offset") {
  const ProbeResult result = facegate::probe_url(
      servers().faults.url("sliced_range/" + kJpeg), loopback_options());
  check_same_as_disk(result, kJpeg);
  CHECK(result.network->requests > 1);
  check_received(result, result.bytes_read, result.network->requests);  // 100-byte slices, used
}

TEST_CASE("a 206 with an unknown total still probes, without a size") {
  const std::string file = "libjxl/external/wide-gamut-tests/P3-sRGB-blue.png";
  const facegate::ProbeResult disk = from_disk(file);
  const ProbeResult result = facegate::probe_url(servers().faults.url("star_total/" + file),
                                                 loopback_options());
  check_same_answer(result, disk);
  CHECK_FALSE(result.file_size.has_value());
  CHECK(result.network->http_status == 206);
}

TEST_CASE("a 416 for a range past the end is the end of input") {
  // 150 bytes of a JPEG, served with unknown totals: the fetcher learns where the file ends
  // only from the 416 answering a range that starts there.
  const facegate::ProbeResult disk = from_disk("truncated.jpg");
  REQUIRE(disk.error.code == facegate::ErrorCode::truncated);
  const ProbeResult result = facegate::probe_url(servers().faults.url("star_total/truncated.jpg"),
                                                 loopback_options());
  CHECK(result.error.code == ErrorCode::truncated);
  CHECK(result.network->http_status == 416);
  CHECK(result.file_size == 150u);
  CHECK(result.network->requests >= 2);
  CHECK(result.bytes_read == 150);
}

TEST_CASE("a gzip-encoded 206 is refused: its offsets are not the file's") {
  const ProbeResult result = facegate::probe_url(
      servers().faults.url("gzip_range/" + kJpeg), loopback_options());
  CHECK(result.error.code == ErrorCode::bad_range);
}

TEST_CASE("Content-Length lies") {
  SUBCASE("shorter than the body: the body is what it says, and is truncated") {
    const ProbeResult result = facegate::probe_url(
        servers().faults.url("short_length/" + kJpeg), loopback_options());
    CHECK(result.error.code == ErrorCode::truncated);
    CHECK(result.file_size == 50u);
    // libcurl may read past the announced end in the same read: received, so counted.
    const auto sent = fs::file_size(servers().tree.path() / kJpeg) + 512;
    CHECK(result.network->bytes_transferred > 50);
    CHECK(result.network->bytes_transferred <= sent);
  }
  SUBCASE("longer than the body: the header is in, the answer stands") {
    const ProbeResult result = facegate::probe_url(
        servers().faults.url("long_length/" + kJpeg), loopback_options());
    const auto size = fs::file_size(servers().tree.path() / kJpeg);
    CHECK(result.error.code == from_disk(kJpeg).error.code);
    CHECK(result.info.width == from_disk(kJpeg).info.width);
    CHECK(result.file_size == size + 1000);  // what the server said
  }
  SUBCASE("the connection closes before the header is complete") {
    const ProbeResult result = facegate::probe_url(
        servers().faults.url("cut/20/" + kJpeg), loopback_options());
    CHECK(result.error.code == ErrorCode::protocol);
    check_received(result, 20, 1);
  }
}

TEST_CASE("a body that never ends: stopped at the answer, or at the byte cap") {
  const ProbeResult image = facegate::probe_url(
      servers().faults.url("endless/" + kJpeg), loopback_options());
  CHECK(image.error.code == from_disk(kJpeg).error.code);
  CHECK(image.info.height == from_disk(kJpeg).info.height);
  CHECK_FALSE(image.file_size.has_value());

  FetchOptions options = loopback_options();
  options.byte_cap = 256 * 1024;
  const ProbeResult endless = facegate::probe_url(
      servers().faults.url("endless_segments"), options);
  CHECK(endless.error.code == ErrorCode::byte_cap);
  CHECK(endless.bytes_read <= options.byte_cap);
  CHECK(endless.network->bytes_transferred <= options.byte_cap + CURL_MAX_WRITE_SIZE);
}

TEST_CASE("stalled servers end in timeout within the deadline") {
  FetchOptions options = loopback_options();
  options.deadline = 3s;
  options.low_speed_time = 1s;
  options.low_speed_limit = 100;
  const std::vector<std::string> urls = {servers().faults.url("hang"),
                                         servers().faults.url("drip/" + kJpeg)};
  const auto start = std::chrono::steady_clock::now();
  const auto results = facegate::probe_urls(urls, options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(results[0].error.code == ErrorCode::timeout);
  CHECK(results[1].error.code == ErrorCode::timeout);
  CHECK(elapsed < options.deadline + 2s);

  FetchOptions deadline_only = loopback_options();
  deadline_only.deadline = 1500ms;
  deadline_only.low_speed_limit = 0;  // no low-speed limit: only the deadline stops it
  const auto before = std::chrono::steady_clock::now();
  const ProbeResult hung = facegate::probe_url(servers().faults.url("hang"), deadline_only);
  CHECK(hung.error.code == ErrorCode::timeout);
  CHECK(std::chrono::steady_clock::now() - before < 3s);
}

TEST_CASE("headers that never end are cut off") {
  const ProbeResult result = facegate::probe_url(servers().faults.url("huge_headers"),
                                                 loopback_options());
  CHECK(result.error.code == ErrorCode::protocol);
}

TEST_CASE("answers that are not HTTP, or never end their 1xx, are protocol errors") {
  for (const char* mode : {"garbage_status", "huge_header_line", "endless_interim"}) {
    const ProbeResult result = facegate::probe_url(servers().faults.url(mode), loopback_options());
    INFO(mode << ": " << facegate::error_code_name(result.error.code) << " "
              << result.error.message);
    CHECK(result.error.code == ErrorCode::protocol);
    CHECK(result.network->requests == 1);
  }
}

TEST_CASE("URLs refused before any request say why: scheme, malformed, not public") {
  const auto scheme = facegate::probe_url("ftp://x/", loopback_options());
  CHECK(scheme.error.code == ErrorCode::scheme);
  CHECK(scheme.error.message.find("scheme 'ftp'") != std::string::npos);
  const auto malformed = facegate::probe_url("https://a b/", loopback_options());
  CHECK(malformed.error.code == ErrorCode::bad_url);
  CHECK(malformed.error.message.find("not a URL") != std::string::npos);
  const auto private_host = facegate::probe_url("http://10.1.2.3/a.jpg", loopback_options());
  CHECK(private_host.error.code == ErrorCode::private_address);
  CHECK(scheme.error.message.find("private") == std::string::npos);
  CHECK(malformed.error.message.find("private") == std::string::npos);
  for (const ProbeResult* result : {&scheme, &malformed, &private_host}) {
    CHECK(result->network->requests == 0);
    CHECK(result->network->bytes_transferred == 0);
  }
}

TEST_CASE("redirects: followed, counted, limited, and re-checked") {
  SUBCASE("followed to the image") {
    const ProbeResult result = facegate::probe_url(
        servers().faults.url("redirect/" + kSmallPng), loopback_options());
    check_same_as_disk(result, kSmallPng);
    CHECK(result.network->requests == 2);
    CHECK(result.network->final_url == servers().faults.url("ignore_range/" + kSmallPng));
  }
  SUBCASE("a loop stops after 5 redirects") {
    const ProbeResult result = facegate::probe_url(servers().faults.url("loop/0"),
                                                   loopback_options());
    CHECK(result.error.code == ErrorCode::too_many_redirects);
    CHECK(result.network->requests == 6);
    CHECK(result.network->http_status == 302);
  }
  SUBCASE("to file:// is refused") {
    const ProbeResult result = facegate::probe_url(servers().faults.url("to_file"),
                                                   loopback_options());
    CHECK(result.error.code == ErrorCode::scheme);
  }
  SUBCASE("to a private address is refused before connecting") {
    // loopback_options() allows loopback only: 10.0.0.1 is refused in the socket callback,
    // before any socket exists, so nothing is ever sent there.
    const ProbeResult result = facegate::probe_url(servers().faults.url("to_private"),
                                                   loopback_options());
    CHECK(result.error.code == ErrorCode::private_address);
    CHECK(result.error.message.find("10.0.0.1") != std::string::npos);
    CHECK(result.network->requests == 1);
  }
}

TEST_CASE("a redirect's body counts against the byte cap and is not read to its end") {
  const auto start = std::chrono::steady_clock::now();
  const ProbeResult result = facegate::probe_url(
      servers().faults.url("fat_redirect/fat/" + kSmallPng), loopback_options());
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  check_same_as_disk(result, kSmallPng);
  CHECK(result.network->requests == 2);
  CHECK(result.network->final_url == servers().faults.url("ignore_range/" + kSmallPng));
  // Read: the redirect's headers and at most a few KiB of its 50 MB body, then the image.
  CHECK(result.network->bytes_transferred > 1024);
  CHECK(result.network->bytes_transferred < 64 * 1024);
  // What the server managed to write: the client's socket buffers, not 50 MB.
  const std::uint64_t sent = final_server_count("fat");
  CHECK(sent > 0);
  CHECK(sent < 8u << 20);

  FetchOptions small_cap = loopback_options();
  small_cap.byte_cap = 4096;
  const ProbeResult capped = facegate::probe_url(
      servers().faults.url("fat_redirect/capped/" + kSmallPng), small_cap);
  CHECK(capped.error.code == ErrorCode::byte_cap);
  CHECK(capped.network->bytes_transferred <= small_cap.byte_cap + CURL_MAX_WRITE_SIZE);
}

TEST_CASE("chunk framing counts: an endless chunk extension and 1-byte chunks stop at the cap") {
  FetchOptions options = loopback_options();
  options.deadline = 4s;
  options.byte_cap = 256 * 1024;
  // Bytes between what the server wrote and what the client read: the server's send buffer
  // (16 KiB asked, twice that granted), the loopback queue and the client's receive buffer.
  constexpr std::uint64_t kSocketBuffers = 512 * 1024;
  constexpr std::uint64_t kReadSteps = 64 * 1024;  // what libcurl reads between two checks
  for (const std::string mode : {"chunk_extension", "tiny_chunks"}) {
    INFO(mode);
    const ProbeResult result = facegate::probe_url(servers().faults.url(mode + "/" + mode),
                                                   options);
    const std::uint64_t received = result.network->bytes_transferred;
    const std::uint64_t sent = final_server_count(mode);
    INFO("received " << received << ", server wrote " << sent);
    CHECK(result.error.code == ErrorCode::byte_cap);
    CHECK(received > options.byte_cap);
    CHECK(received <= options.byte_cap + kReadSteps);
    CHECK(sent <= options.byte_cap + kReadSteps + kSocketBuffers);
    CHECK(received + kSocketBuffers >= sent);
  }
}

TEST_CASE("error statuses name the status") {
  for (const int status : {404, 500, 403}) {
    const ProbeResult result = facegate::probe_url(
        servers().faults.url("status/" + std::to_string(status)), loopback_options());
    CHECK(result.error.code == ErrorCode::http_status);
    CHECK(result.network->http_status == status);
    CHECK(result.bytes_read == 0);
  }
}

TEST_CASE("chunked and unasked gzip bodies probe right, with no size") {
  const facegate::ProbeResult disk = from_disk(kJpeg);
  for (const char* mode : {"chunked/", "gzip/"}) {
    INFO(mode);
    const ProbeResult result = facegate::probe_url(servers().faults.url(mode + kJpeg),
                                                   loopback_options());
    check_same_answer(result, disk);
    CHECK_FALSE(result.file_size.has_value());
  }
}

TEST_CASE("an empty body is the probe's end of input") {
  const ProbeResult result = facegate::probe_url(servers().faults.url("empty"), loopback_options());
  const facegate::ProbeResult empty = facegate::probe_memory({});
  CHECK(result.error.code == empty.error.code);
  CHECK(result.error.code != ErrorCode::none);
  CHECK(result.file_size == 0u);
}

TEST_CASE("every fault at once: one result per URL, in order, none hangs") {
  const std::vector<std::string> paths = {
      "ignore_range/" + kJpeg, "wrong_range/" + kJpeg, "overlong_range/" + kJpeg,
      "sliced_range/" + kJpeg, "gzip_range/" + kJpeg,   "short_length/" + kJpeg,
      "long_length/" + kJpeg,  "cut/20/" + kJpeg,       "endless/" + kJpeg,
      "endless_segments",      "hang",                  "drip/" + kJpeg,
      "huge_headers",          "loop/0",                "to_file",
      "to_private",            "redirect/" + kJpeg,     "status/404",
      "status/500",            "chunked/" + kJpeg,      "gzip/" + kJpeg,
      "empty",                 "no_such_mode"};
  std::vector<std::string> urls;
  for (const auto& path : paths) urls.push_back(servers().faults.url(path));
  FetchOptions options = loopback_options();
  options.deadline = 3s;
  options.low_speed_time = 1s;
  const auto start = std::chrono::steady_clock::now();
  const auto results = facegate::probe_urls(urls, options, {/*max_transfers=*/8, 4});
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  REQUIRE(results.size() == urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    INFO(paths[i] << ": " << facegate::error_code_name(results[i].error.code));
    CHECK(results[i].network->bytes_transferred <= options.byte_cap + CURL_MAX_WRITE_SIZE);
  }
  CHECK(results[1].error.code == ErrorCode::bad_range);
  CHECK(results[10].error.code == ErrorCode::timeout);
  CHECK(results[13].error.code == ErrorCode::too_many_redirects);
  CHECK(results[15].error.code == ErrorCode::private_address);
  CHECK(results[22].error.code == ErrorCode::http_status);
}
