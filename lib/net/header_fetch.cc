// One URL's header fetch (see include/facegate/fetch.hpp for the behaviour it promises), or
// the download of its whole body for the deep check: the same requests, checks and count,
// without ranges or a probe.
#include "net/header_fetch.hpp"

#include <algorithm>
#include <memory>
#include <span>
#include <utility>

#include "net/http_headers.hpp"
#include "net/safe_transfer.hpp"
#include "net/url_check.hpp"

namespace facegate::detail {
namespace {

// All header lines of one response together; past this the server is not sending headers.
constexpr std::size_t kMaxResponseHeaderBytes = 64 * 1024;
// Range requests per URL. The default policy needs at most 2 on the measured corpus, and its
// doubling reaches the default byte cap within 8; past 32 a server is answering in slivers.
constexpr std::uint32_t kMaxRangeRequests = 32;
// 1xx interim responses before a final one. RFC 9110 15.2 sets no limit; servers send one or
// two (100 Continue, 103 Early Hints); more is a server that never answers.
constexpr std::uint32_t kMaxInterimResponses = 8;
// A redirect's body read so that its connection can serve the next request; past this the
// connection is dropped instead (the body counts against the byte cap either way).
constexpr std::uint64_t kMaxRedirectBody = 16 * 1024;

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};

std::string range_text(const PlannedRange& range) {
  return std::to_string(range.offset) + "-" + std::to_string(range.offset + range.length - 1);
}

std::string content_range_text(const ContentRange& range) {
  std::string text = range.first ? std::to_string(*range.first) + "-" + std::to_string(*range.last)
                                 : std::string("*");
  return text + "/" + (range.total ? std::to_string(*range.total) : std::string("*"));
}

class HeaderFetch : public std::enable_shared_from_this<HeaderFetch> {
 public:
  // No policy: the whole body is downloaded (start_body_fetch).
  HeaderFetch(TransferLoop& loop, std::string url, const FetchOptions& options,
              std::optional<RangePolicy> policy, BodyCallback on_done)
      : loop_(loop),
        options_(options),
        policy_(policy),
        on_done_(std::move(on_done)),
        guard_(address_policy(options)),
        url_(normalize_url(url)) {
    result_.network.emplace();
  }

  void start();

 private:
  // How the current response's body maps to file offsets.
  enum class BodyMode : std::uint8_t {
    unjudged,  // status and headers not judged yet
    range,     // 206: the body is bytes [body_first_, body_first_ + *body_length_)
    stream,    // 200: the body is the whole file from offset 0
    past_end,  // 416 for a range at or past the file's end: the input has ended
    redirect,  // 3xx with a Location: redirect_url_ is next
    refused,   // the response cannot be used; failure_ says why
  };

  static std::size_t write_callback(char* data, std::size_t size, std::size_t count, void* self);
  static std::size_t header_callback(char* data, std::size_t size, std::size_t count, void* self);
  static int progress_callback(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

  CURLcode configure();
  void request_next();
  void on_transfer_start();
  void on_transfer_done(CURLcode code);
  TransferStage stage() const;
  void fail_from_curl(CURLcode code);
  void follow_redirect();
  bool count_received(std::size_t bytes);
  bool recount();
  void judge_response();
  void refuse(ErrorCode code, std::string message);
  std::size_t on_body(std::span<const std::byte> bytes);
  /// Returns line.size() to go on, 0 to stop the transfer.
  std::size_t on_header(std::string_view line);
  void feed(std::uint64_t offset, std::span<const std::byte> bytes);
  std::size_t stop_with(ErrorCode code, std::string message);
  void fail(ErrorCode code, std::string message);
  void deliver();

  TransferLoop& loop_;
  const FetchOptions options_;
  const std::optional<RangePolicy> policy_;  // nullopt: a whole-body download
  BodyCallback on_done_;
  std::vector<std::byte> body_;  // a whole-body download's body
  AddressGuard guard_;
  std::unique_ptr<CURL, EasyDeleter> easy_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  Probe probe_;
  const std::string url_;  // normalize_url() of the URL given
  ProbeResult result_;     // result_.network is always set
  NetworkFacts& net() { return *result_.network; }
  std::optional<TransferLoop::Clock::time_point> deadline_;
  std::uint32_t transfers_ = 0;
  std::uint32_t redirects_ = 0;

  // The current request and its response.
  PlannedRange asked_;
  ResponseFields fields_;
  std::size_t header_bytes_ = 0;
  std::uint32_t interim_responses_ = 0;
  std::uint32_t requests_before_ = 0;   // guard_.requests_sent() when this transfer began
  std::uint32_t requests_answered_ = 0;  // guard_.requests_sent() at the last status line
  BodyMode mode_ = BodyMode::unjudged;
  std::uint64_t body_first_ = 0;
  std::optional<std::uint64_t> body_length_;
  std::uint64_t body_received_ = 0;  // body bytes of this response (within body_length_)
  // What this transfer received: the larger of what the callbacks were handed (headers,
  // bodies) and what was read from its connection's socket (framing too, socket_bytes.hpp).
  std::uint64_t bytes_before_transfer_ = 0;  // net().bytes_transferred when it began
  std::uint64_t handed_bytes_ = 0;
  std::uint64_t socket_bytes_ = 0;
  std::shared_ptr<const RequestReads> counted_reads_;  // set for HTTP/1.x answers
  std::string redirect_url_;
  Error failure_;             // why a callback stopped or refused this response
};

void HeaderFetch::start() {
  const Error early = check_url(url_, address_policy(options_));
  if (early) {
    loop_.post([self = shared_from_this(), early] { self->fail(early.code, early.message); });
    return;
  }
  easy_.reset(curl_easy_init());
  const CURLcode configured = easy_ ? configure() : CURLE_FAILED_INIT;
  if (configured != CURLE_OK) {
    loop_.post([self = shared_from_this(), configured] {
      self->fail(ErrorCode::internal,
                 std::string("cannot set up the transfer: ") + curl_easy_strerror(configured));
    });
    return;
  }
  request_next();
}

CURLcode HeaderFetch::configure() {
  CURL* easy = easy_.get();
  CURLcode code = set_safe_transfer_options(easy, options_, long{options_.max_redirects});
  if (code == CURLE_OK) code = guard_.install(easy);
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  // Redirects are followed here (follow_redirect): libcurl would read a redirect's whole body
  // to reuse the connection, past the byte cap.
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_WRITEFUNCTION, &HeaderFetch::write_callback);
  set(CURLOPT_WRITEDATA, this);
  set(CURLOPT_HEADERFUNCTION, &HeaderFetch::header_callback);
  set(CURLOPT_HEADERDATA, this);
  // Called after each of libcurl's reads, also those that hand no byte to a callback (a chunk
  // extension): there the socket's count is checked against the cap.
  set(CURLOPT_NOPROGRESS, 0L);
  set(CURLOPT_XFERINFOFUNCTION, &HeaderFetch::progress_callback);
  set(CURLOPT_XFERINFODATA, this);
  set(CURLOPT_ERRORBUFFER, error_buffer_);
  // Sends "Accept-Encoding: identity", and lets libcurl decode an encoding the server applies
  // anyway, so that a 200 body is the image itself (CURLOPT_ACCEPT_ENCODING docs).
  set(CURLOPT_ACCEPT_ENCODING, "identity");
  return code;
}

void HeaderFetch::request_next() {
  if (deadline_ && TransferLoop::Clock::now() >= *deadline_) {
    return fail(ErrorCode::timeout, "deadline of " + std::to_string(options_.deadline.count()) +
                                         " ms passed after " + std::to_string(transfers_) +
                                         " range requests");
  }
  if (transfers_ >= kMaxRangeRequests) {
    return fail(ErrorCode::protocol, "the server answered " + std::to_string(transfers_) +
                                          " range requests without completing the header");
  }
  if (policy_) {
    const std::uint64_t used = net().bytes_transferred;
    const std::uint64_t budget = options_.byte_cap > used ? options_.byte_cap - used : 0;
    const std::optional<PlannedRange> range =
        plan_range(probe_.want(), transfers_, *policy_, budget, result_.file_size);
    if (!range) {
      if (budget == 0) {
        return fail(ErrorCode::byte_cap, "the header needs more than the byte cap of " +
                                              std::to_string(options_.byte_cap) + " bytes");
      }
      probe_.finish();  // the probe wants bytes at or past the end of the file
      return deliver();
    }
    asked_ = *range;
  }
  fields_ = ResponseFields{};
  header_bytes_ = 0;
  interim_responses_ = 0;
  requests_before_ = guard_.requests_sent();
  mode_ = BodyMode::unjudged;
  body_first_ = 0;
  body_length_.reset();
  body_received_ = 0;
  bytes_before_transfer_ = net().bytes_transferred;
  handed_bytes_ = 0;
  socket_bytes_ = 0;
  counted_reads_.reset();
  redirect_url_.clear();
  failure_ = Error{};
  error_buffer_[0] = '\0';
  guard_.reset_refusal();

  // Further ranges go straight to where the redirects led.
  const std::string& target = transfers_ == 0 ? url_ : net().final_url;
  const std::string range_value = policy_ ? range_text(asked_) : std::string();
  CURL* easy = easy_.get();
  CURLcode code = set_transfer_url(easy, target);
  if (code == CURLE_OK) {
    code = curl_easy_setopt(easy, CURLOPT_RANGE, policy_ ? range_value.c_str() : nullptr);
  }
  if (code != CURLE_OK) {
    return fail(ErrorCode::internal,
                std::string("cannot set up the request: ") + curl_easy_strerror(code));
  }
  loop_.add(
      easy, TransferLoop::host_key(target),
      [self = shared_from_this()] { self->on_transfer_start(); },
      [self = shared_from_this()](CURLcode result) { self->on_transfer_done(result); });
}

// The deadline counts from the moment the first request leaves the loop's queue.
void HeaderFetch::on_transfer_start() {
  const auto now = TransferLoop::Clock::now();
  if (!deadline_) deadline_ = now + options_.deadline;
  const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - now),
                             std::chrono::milliseconds(1));  // 0 would mean "no timeout"
  curl_easy_setopt(easy_.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
}

void HeaderFetch::on_transfer_done(CURLcode code) {
  CURL* easy = easy_.get();
  ++transfers_;
  recount();  // the last reads: up to the next request on the connection, or its close
  char* effective_url = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url) == CURLE_OK &&
      effective_url != nullptr) {
    net().final_url = effective_url;
  }
  long status = 0;
  if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 0) {
    net().http_status = status;
  }
  // A response without a body never reached the write callback.
  if (mode_ == BodyMode::unjudged && code == CURLE_OK) judge_response();

  if (probe_.status() != Status::need_more) return deliver();  // the answer is in, whatever followed
  if (failure_) return fail(failure_.code, failure_.message);
  if (mode_ == BodyMode::redirect) return follow_redirect();
  if (mode_ == BodyMode::past_end) {
    probe_.finish();
    return deliver();
  }
  if (code != CURLE_OK) {
    if (!guard_.refusal().empty() &&
        (code == CURLE_COULDNT_CONNECT || code == CURLE_ABORTED_BY_CALLBACK)) {
      return fail(ErrorCode::private_address, guard_.refusal());
    }
    return fail_from_curl(code);
  }
  if (mode_ == BodyMode::stream) {
    if (policy_) probe_.finish();
    return deliver();
  }
  // BodyMode::range: the response ended normally.
  if (body_received_ < *body_length_) {
    return fail(ErrorCode::bad_range, "the 206 body has " + std::to_string(body_received_) +
                                           " bytes, its Content-Range announces " +
                                           std::to_string(*body_length_));
  }
  request_next();
}

// The checks libcurl would make when following (scheme, count), and the address check of a
// literal host before any connection; the guard checks every address connected to.
void HeaderFetch::follow_redirect() {
  if (++redirects_ > options_.max_redirects) {
    return fail(ErrorCode::too_many_redirects,
                "more than " + std::to_string(options_.max_redirects) + " redirects");
  }
  if (redirect_url_.empty()) {
    return fail(ErrorCode::protocol, "a redirect to an unusable Location: " + fields_.location);
  }
  const Error refused = check_url(redirect_url_, address_policy(options_));
  if (refused) return fail(refused.code, "redirect to " + redirect_url_ + ": " + refused.message);
  net().final_url = redirect_url_;
  request_next();
}

TransferStage HeaderFetch::stage() const {
  const std::uint32_t sent = guard_.requests_sent();
  if (sent == requests_before_) return TransferStage::setup;
  return requests_answered_ == sent ? TransferStage::answered : TransferStage::sent;
}

void HeaderFetch::fail_from_curl(CURLcode code) {
  const TransferStage reached = stage();
  const ErrorCode error = error_code_from_curl(code, reached);
  std::string message = curl_error_text(code, error_buffer_);
  // libcurl says "Out of memory" when a header line outgrows its buffer.
  if (error == ErrorCode::protocol && code == CURLE_OUT_OF_MEMORY) {
    message = "a response header too large for libcurl (" + message + ")";
  } else if (error == ErrorCode::protocol && code == CURLE_UNSUPPORTED_PROTOCOL) {
    message = "the answer is not HTTP (" + message + ")";
  }
  fail(error, std::move(message));
}

void HeaderFetch::refuse(ErrorCode code, std::string message) {
  mode_ = BodyMode::refused;
  failure_ = Error{code, std::move(message)};
}

// Decides, once the status and headers are in, how the body maps to file offsets.
void HeaderFetch::judge_response() {
  long status = 0;
  curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
  const std::optional<ContentRange>& range = fields_.content_range;
  if (status == 200 || status == 206) {
    net().etag = fields_.etag;
    net().last_modified = fields_.last_modified;
  }
  if (status == 206) {
    if (!policy_) return refuse(ErrorCode::bad_range, "a 206 to a request that asked no range");
    if (fields_.multipart) {
      return refuse(ErrorCode::bad_range, "206 multipart/byteranges for a single range");
    }
    if (!range || !range->first) {
      return refuse(ErrorCode::bad_range, fields_.has_content_range
                                               ? "206 with an invalid Content-Range"
                                               : "206 without Content-Range");
    }
    // RFC 9110 14.4: the server may send less than asked, never other bytes.
    if (*range->first != asked_.offset || *range->last >= asked_.offset + asked_.length) {
      return refuse(ErrorCode::bad_range, "asked bytes " + range_text(asked_) +
                                               ", the 206 says bytes " +
                                               content_range_text(*range));
    }
    if (!fields_.identity_encoded()) {
      return refuse(ErrorCode::bad_range, "206 with Content-Encoding '" +
                                               fields_.content_encoding +
                                               "': its offsets are not the file's");
    }
    mode_ = BodyMode::range;
    body_first_ = *range->first;
    body_length_ = *range->last - *range->first + 1;
    if (range->total) result_.file_size = range->total;
    return;
  }
  if (status >= 300 && status < 400 && !fields_.location.empty()) {
    mode_ = BodyMode::redirect;
    const std::string& from = transfers_ == 0 ? url_ : net().final_url;
    redirect_url_ = resolve_location(from, fields_.location);
    return;
  }
  if (status == 200) {
    mode_ = BodyMode::stream;
    // An encoded body's length is not the file's size.
    result_.file_size =
        fields_.identity_encoded() ? fields_.content_length : std::optional<std::uint64_t>{};
    if (!policy_ && result_.file_size && *result_.file_size <= options_.byte_cap) {
      body_.reserve(static_cast<std::size_t>(*result_.file_size));
    }
    return;
  }
  // RFC 9110 15.5.17: 416 with "bytes */total" when the range starts at or past the end.
  if (status == 416 && range && !range->first && range->total && asked_.offset >= *range->total) {
    mode_ = BodyMode::past_end;
    result_.file_size = range->total;
    return;
  }
  refuse(ErrorCode::http_status, "HTTP status " + std::to_string(status));
}

std::size_t HeaderFetch::write_callback(char* data, std::size_t size, std::size_t count,
                                        void* self) {
  return static_cast<HeaderFetch*>(self)->on_body(
      std::span(reinterpret_cast<const std::byte*>(data), size * count));
}

std::size_t HeaderFetch::header_callback(char* data, std::size_t size, std::size_t count,
                                         void* self) {
  return static_cast<HeaderFetch*>(self)->on_header(std::string_view(data, size * count));
}

int HeaderFetch::progress_callback(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<HeaderFetch*>(self)->recount() ? 0 : 1;
}

std::size_t HeaderFetch::stop_with(ErrorCode code, std::string message) {
  failure_ = Error{code, std::move(message)};
  return CURL_WRITEFUNC_ERROR;
}

// Counts `bytes` handed to a callback; see recount().
bool HeaderFetch::count_received(std::size_t bytes) {
  handed_bytes_ += bytes;
  return recount();
}

// Everything received counts against the byte cap: headers, redirect bodies, bodies, and what
// libcurl read and decoded out of sight (chunk framing), known from the socket of an HTTP/1.x
// connection. False when the cap is passed; failure_ then says so, unless it said otherwise.
bool HeaderFetch::recount() {
  if (counted_reads_) {
    const auto read = SocketRegistry::instance().bytes_read(*counted_reads_);
    if (read) socket_bytes_ = std::max(socket_bytes_, *read);
  }
  net().bytes_transferred = bytes_before_transfer_ + std::max(handed_bytes_, socket_bytes_);
  if (net().bytes_transferred <= options_.byte_cap) return true;
  if (!failure_) {
    failure_ = Error{ErrorCode::byte_cap, "more than the byte cap of " +
                                              std::to_string(options_.byte_cap) +
                                              " bytes received"};
  }
  return false;
}

std::size_t HeaderFetch::on_header(std::string_view line) {
  const bool status_line = line.starts_with("HTTP/");  // a new response (redirect, 1xx)
  // HTTP/1.x carries one response at a time on a connection: what its socket reads from this
  // request until the next one on it (or its close) is this transfer's. An HTTP/2 connection
  // interleaves streams of several URLs: its frames' payload counts, not their framing.
  if (status_line && line.starts_with("HTTP/1.")) counted_reads_ = guard_.request_reads();
  if (!count_received(line.size())) return 0;
  if (status_line) {
    header_bytes_ = 0;
    requests_answered_ = guard_.requests_sent();
    const std::size_t space = line.find(' ');
    if (space != std::string_view::npos && space + 1 < line.size() && line[space + 1] == '1' &&
        ++interim_responses_ > kMaxInterimResponses) {
      failure_ = Error{ErrorCode::protocol, "more than " + std::to_string(kMaxInterimResponses) +
                                                " interim (1xx) responses"};
      return 0;
    }
  }
  header_bytes_ += line.size();
  if (header_bytes_ > kMaxResponseHeaderBytes) {
    failure_ = Error{ErrorCode::protocol, "response headers exceed 64 KiB"};
    return 0;
  }
  fields_.read_line(line);
  return line.size();
}

std::size_t HeaderFetch::on_body(std::span<const std::byte> bytes) {
  if (mode_ == BodyMode::unjudged) judge_response();
  if (mode_ == BodyMode::refused || mode_ == BodyMode::past_end) return CURL_WRITEFUNC_ERROR;
  if (mode_ == BodyMode::redirect) {
    body_received_ += bytes.size();
    if (!count_received(bytes.size())) return CURL_WRITEFUNC_ERROR;
    return body_received_ <= kMaxRedirectBody ? bytes.size() : CURL_WRITEFUNC_ERROR;
  }

  const std::size_t received = bytes.size();
  // The byte cap holds whatever the server announced: bytes past it are never used. The
  // bytes of this write that fit are counted back from its end, where the count stands.
  const bool over_cap = !count_received(received);
  if (over_cap) {
    const std::uint64_t excess = net().bytes_transferred - options_.byte_cap;
    bytes = bytes.first(excess < received ? received - excess : 0);
  }
  if (!policy_) {  // a whole-body download: every byte is kept
    body_.insert(body_.end(), bytes.begin(), bytes.end());
    if (!over_cap) return received;
    return stop_with(ErrorCode::byte_cap, "the body is larger than the byte cap of " +
                                              std::to_string(options_.byte_cap) + " bytes");
  }
  // A 206 body never feeds bytes past its Content-Range.
  bool past_range = false;
  if (body_length_ && bytes.size() > *body_length_ - body_received_) {
    bytes = bytes.first(*body_length_ - body_received_);
    past_range = true;
  }
  const std::uint64_t offset = body_first_ + body_received_;
  body_received_ += bytes.size();
  feed(offset, bytes);

  if (probe_.status() != Status::need_more) {
    // A stream stops here. The rest of an asked range is short and already on its way:
    // reading it keeps an HTTP/1.1 connection reusable for the next URL of this host.
    const bool drain = mode_ == BodyMode::range && !past_range && !over_cap;
    return drain ? received : CURL_WRITEFUNC_ERROR;
  }
  if (past_range) {
    return stop_with(ErrorCode::bad_range,
                     "the 206 body is longer than its Content-Range (" +
                         std::to_string(*body_length_) + " bytes)");
  }
  if (over_cap) {
    return stop_with(ErrorCode::byte_cap, "the header needs more than the byte cap of " +
                                               std::to_string(options_.byte_cap) + " bytes");
  }
  return received;
}

// Feeds the probe from the byte it needs next: a stream's earlier bytes are skipped.
void HeaderFetch::feed(std::uint64_t offset, std::span<const std::byte> bytes) {
  if (bytes.empty() || probe_.status() != Status::need_more) return;
  const std::uint64_t needed = probe_.want().offset;
  if (offset + bytes.size() <= needed) return;
  if (offset < needed) {
    bytes = bytes.subspan(static_cast<std::size_t>(needed - offset));
    offset = needed;
  }
  result_.bytes_read += bytes.size();
  probe_.feed(offset, bytes);
}

void HeaderFetch::fail(ErrorCode code, std::string message) {
  result_.info = probe_.info();
  result_.error = Error{code, std::move(message)};
  net().requests = guard_.requests_sent();
  if (on_done_) std::exchange(on_done_, nullptr)(std::move(result_), std::vector<std::byte>{});
}

void HeaderFetch::deliver() {
  if (policy_) {
    result_.info = probe_.info();
    if (probe_.status() == Status::error) result_.error = probe_.error();
  }
  net().requests = guard_.requests_sent();
  if (on_done_) std::exchange(on_done_, nullptr)(std::move(result_), std::move(body_));
}

}  // namespace

void start_header_fetch(TransferLoop& loop, std::string url, const FetchOptions& options,
                        const RangePolicy& policy, FetchCallback on_done) {
  BodyCallback facts_only = [on_done = std::move(on_done)](ProbeResult result,
                                                           std::vector<std::byte>) {
    if (on_done) on_done(std::move(result));
  };
  std::make_shared<HeaderFetch>(loop, std::move(url), options, policy, std::move(facts_only))
      ->start();
}

void start_body_fetch(TransferLoop& loop, std::string url, const FetchOptions& options,
                      BodyCallback on_done) {
  std::make_shared<HeaderFetch>(loop, std::move(url), options, std::nullopt, std::move(on_done))
      ->start();
}

}  // namespace facegate::detail
