#include "net/safe_transfer.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace facegate::detail {
namespace {

// CURLE_TOO_LARGE's value (curl/curl.h of libcurl 8.6+); Debian 12's 7.88 does not name it.
constexpr int kCurleTooLarge = 100;

}  // namespace

CURLcode AddressGuard::install(CURL* easy) {
  CURLcode code = curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &AddressGuard::open_socket);
  if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  if (code == CURLE_OK) {
    code = curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &AddressGuard::before_request);
  }
  if (code == CURLE_OK) code = curl_easy_setopt(easy, CURLOPT_PREREQDATA, this);
  if (code == CURLE_OK) {
    code = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &close_tracked_socket);
  }
  // The registry, not the guard: libcurl may close the socket after this handle is gone.
  if (code == CURLE_OK) {
    code = curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, &SocketRegistry::instance());
  }
  return code;
}

bool AddressGuard::allows(std::string_view address_text, const std::optional<AddressScope>& scope) {
  if (scope && policy_.allows(*scope)) return true;
  refusal_ = "refused to connect to " + std::string(address_text.empty() ? "?" : address_text) +
             ": " + std::string(scope ? address_scope_name(*scope) : "unknown kind of") +
             " address";
  return false;
}

bool AddressGuard::allow_connect(const sockaddr* address, socklen_t length) {
  return allows(socket_address_text(address, length), socket_address_scope(address, length));
}

bool AddressGuard::allow_request(std::string_view primary_ip) {
  if (!allows(primary_ip, literal_address_scope(primary_ip))) return false;
  ++requests_sent_;
  return true;
}

curl_socket_t AddressGuard::open_socket(void* self, curlsocktype purpose, curl_sockaddr* address) {
  auto& guard = *static_cast<AddressGuard*>(self);
  if (purpose != CURLSOCKTYPE_IPCXN ||
      !guard.allow_connect(&address->addr, static_cast<socklen_t>(address->addrlen))) {
    return CURL_SOCKET_BAD;
  }
  const curl_socket_t fd =
      ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd != CURL_SOCKET_BAD) SocketRegistry::instance().add(fd);
  return fd;
}

int AddressGuard::before_request(void* self, char* primary_ip, char*, int primary_port,
                                 int local_port) {
  auto& guard = *static_cast<AddressGuard*>(self);
  const std::string_view peer = primary_ip != nullptr ? primary_ip : "";
  if (!guard.allow_request(peer)) return CURL_PREREQFUNC_ABORT;
  guard.request_reads_ = SocketRegistry::instance().begin_request(local_port, peer, primary_port);
  return CURL_PREREQFUNC_OK;
}

CURLcode set_safe_transfer_options(CURL* easy, const FetchOptions& options, long max_redirects) {
  CURLcode code = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 1L);
  set(CURLOPT_MAXREDIRS, max_redirects);
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  set(CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(options.low_speed_limit));
  set(CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) set(CURLOPT_CAINFO, options.ca_file.c_str());
  // An empty proxy string disables the proxy environment variables (CURLOPT_PROXY docs).
  if (!options.use_environment_proxy) set(CURLOPT_PROXY, "");
  set(CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_2TLS});
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_USERAGENT, options.user_agent.c_str());
  return code;
}

CURLcode set_transfer_url(CURL* easy, const std::string& url) {
  const CURLcode code = curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  if (code != CURLE_OK) return code;
  constexpr std::string_view kHttps = "https://";
  const bool https =
      url.size() >= kHttps.size() &&
      std::equal(kHttps.begin(), kHttps.end(), url.begin(), [](char expected, char c) {
        return expected == (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
      });
  return curl_easy_setopt(easy, CURLOPT_PIPEWAIT, https ? 1L : 0L);
}

ErrorCode error_code_from_curl(CURLcode code, TransferStage stage) noexcept {
  if (stage != TransferStage::setup) {
    // CURLE_TOO_LARGE (libcurl 8.6+) is what later versions say for a header too large.
    if (code == CURLE_OUT_OF_MEMORY || static_cast<int>(code) == kCurleTooLarge) {
      return ErrorCode::protocol;
    }
    if (code == CURLE_UNSUPPORTED_PROTOCOL && stage == TransferStage::sent) {
      return ErrorCode::protocol;
    }
  }
  switch (code) {
    case CURLE_OK: return ErrorCode::none;
    case CURLE_UNSUPPORTED_PROTOCOL: return ErrorCode::scheme;
    case CURLE_URL_MALFORMAT: return ErrorCode::bad_url;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return ErrorCode::dns;
    case CURLE_COULDNT_CONNECT: return ErrorCode::connect;
    case CURLE_OPERATION_TIMEDOUT: return ErrorCode::timeout;
    case CURLE_TOO_MANY_REDIRECTS: return ErrorCode::too_many_redirects;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return ErrorCode::tls;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: return ErrorCode::network;
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_RANGE_ERROR: return ErrorCode::protocol;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK: return ErrorCode::internal;
    default: return ErrorCode::network;
  }
}

std::string curl_error_text(CURLcode code, const char* error_buffer) {
  if (error_buffer != nullptr && error_buffer[0] != '\0') return error_buffer;
  return curl_easy_strerror(code);
}

}  // namespace facegate::detail
