// `facegate serve` (README, "facegate serve"): libmicrohttpd, one thread per connection, each
// request handed whole to facegate::Gateway and its thread waiting for the answer.
//
// Why libmicrohttpd (docs/service.md#the-gateway): a C library made for embedding, in Debian
// for years, whose limits are options of the daemon rather than code of ours: connections in
// all and per client address, an idle timeout per connection (a client that stops sending is
// cut off), a memory pool per connection that bounds the request line and headers, and a
// quiesce call that stops accepting while requests in flight finish.
#include "serve_command.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <ctime>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "commands.hpp"
#include "facegate/check.hpp"
#include "facegate/gateway.hpp"

namespace facegate::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct ServeOptions {
  std::string listen = "127.0.0.1:8787";
  bool key_from_env = false;
  std::size_t max_body = 64 * 1024;
  std::size_t drain_limit = 16 * 1024 * 1024;
  std::size_t header_memory = 32 * 1024;
  unsigned connection_timeout = 10;
  unsigned max_connections = 256;
  unsigned per_ip_connections = 64;
  double grace_seconds = 30;
  unsigned queue_wait_ms = 5000;
  unsigned rate_margin_ms = 100;
  std::optional<std::string> ledger_file;  // --ledger; none: no ledger
  bool no_ledger = false;                  // --no-ledger, the default said out loud
  GatewayOptions gateway;
};

/// ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6) as a socket address; nullopt when it is neither.
std::optional<sockaddr_storage> parse_listen(const std::string& text) {
  sockaddr_storage storage{};
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port > 65535) return std::nullopt;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
    address->sin6_family = AF_INET6;
    address->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &address->sin6_addr) != 1) {
      return std::nullopt;
    }
    return storage;
  }
  auto* address = reinterpret_cast<sockaddr_in*>(&storage);
  address->sin_family = AF_INET;
  address->sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address->sin_addr) != 1) return std::nullopt;
  return storage;
}

std::string client_text(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {};
  const sockaddr* address = info->client_addr;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

/// One request on its way through a connection's thread.
struct Exchange {
  Clock::time_point started = Clock::now();
  GatewayRequest request;
  std::size_t body_bytes = 0;  // as received, also past max_body
  bool too_large = false;
  bool answered = false;  // a response was queued before the body was read
};

/// The server: the gateway, the limits, the count of requests in flight, the access log.
class Server {
 public:
  Server(ServeOptions options, std::unique_ptr<Gateway> gateway)
      : options_(std::move(options)), gateway_(std::move(gateway)) {}

  std::size_t active() const noexcept { return active_.load(); }

  static MHD_Result on_request(void* self, MHD_Connection* connection, const char* url,
                               const char* method, const char*, const char* upload_data,
                               size_t* upload_data_size, void** context) {
    return static_cast<Server*>(self)->request(connection, url, method, upload_data,
                                               upload_data_size, context);
  }

  static void on_completed(void* self, MHD_Connection*, void** context,
                           MHD_RequestTerminationCode) {
    auto* exchange = static_cast<Exchange*>(*context);
    if (exchange == nullptr) return;
    delete exchange;
    *context = nullptr;
    static_cast<Server*>(self)->active_.fetch_sub(1);
  }

 private:
  MHD_Result request(MHD_Connection* connection, const char* url, const char* method,
                     const char* upload_data, size_t* upload_data_size, void** context) {
    auto* exchange = static_cast<Exchange*>(*context);
    if (exchange == nullptr) return begin(connection, url, method, context);
    if (*upload_data_size != 0) {
      exchange->body_bytes += *upload_data_size;
      if (exchange->request.body.size() + *upload_data_size > options_.max_body) {
        exchange->too_large = true;  // drained, not kept: the answer comes once it is read
      } else if (!exchange->answered) {
        exchange->request.body.append(upload_data, *upload_data_size);
      }
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (exchange->answered) return MHD_YES;
    if (exchange->too_large) return send(connection, *exchange, too_large());
    auto answer = std::make_shared<std::promise<GatewayResponse>>();
    std::future<GatewayResponse> response = answer->get_future();
    gateway_->handle(exchange->request,
                     [answer](GatewayResponse done) { answer->set_value(std::move(done)); });
    return send(connection, *exchange, response.get());
  }

  MHD_Result begin(MHD_Connection* connection, const char* url, const char* method,
                   void** context) {
    active_.fetch_add(1);
    auto* exchange = new Exchange;
    *context = exchange;
    exchange->request.method = method;
    exchange->request.path = url;
    MHD_get_connection_values(
        connection, MHD_HEADER_KIND,
        [](void* into, MHD_ValueKind, const char* name, const char* value) {
          static_cast<GatewayRequest*>(into)->headers.push_back({name, value ? value : ""});
          return MHD_YES;
        },
        &exchange->request);
    // A body announced longer than can be drained is refused before it is read; the
    // connection then closes.
    const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != nullptr && std::strtoull(length, nullptr, 10) > options_.drain_limit) {
      exchange->answered = true;
      return send(connection, *exchange, too_large());
    }
    return MHD_YES;
  }

  GatewayResponse too_large() const {
    return gateway_error(
        413, "InvalidParameter",
        "facegate: the request body is larger than " + std::to_string(options_.max_body) + " bytes",
        "bad_request");
  }

  MHD_Result send(MHD_Connection* connection, const Exchange& exchange,
                  const GatewayResponse& answer) {
    MHD_Response* response = MHD_create_response_from_buffer(
        answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) return MHD_NO;
    for (const HttpHeader& header : answer.headers) {
      MHD_add_response_header(response, header.name.c_str(), header.value.c_str());
    }
    if (exchange.too_large || exchange.answered) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    const MHD_Result queued =
        MHD_queue_response(connection, static_cast<unsigned>(answer.status), response);
    MHD_destroy_response(response);
    log(connection, exchange, answer);
    return queued;
  }

  /// One JSON line on stderr; never a header of the request (the key is in one).
  void log(MHD_Connection* connection, const Exchange& exchange, const GatewayResponse& answer) {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - exchange.started);
    std::string line = "{\"time\":" + json_quote(utc_now()) +
                       ",\"client\":" + json_quote(client_text(connection)) +
                       ",\"method\":" + json_quote(exchange.request.method) +
                       ",\"path\":" + json_quote(exchange.request.path) +
                       ",\"status\":" + std::to_string(answer.status) +
                       ",\"decision\":" + json_quote(answer.header("X-Facegate-Decision")) +
                       ",\"request_bytes\":" + std::to_string(exchange.body_bytes) +
                       ",\"response_bytes\":" + std::to_string(answer.body.size()) +
                       ",\"us\":" + std::to_string(micros.count()) + "}\n";
    std::lock_guard lock(log_mutex_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

  ServeOptions options_;
  std::unique_ptr<Gateway> gateway_;
  std::atomic<std::size_t> active_{0};
  std::mutex log_mutex_;
};

std::uint16_t bound_port(MHD_Daemon* daemon) {
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info == nullptr ? 0 : info->port;
}

int run_serve(ServeOptions options) {
  const std::optional<sockaddr_storage> address = parse_listen(options.listen);
  if (!address) {
    std::cerr << "facegate serve: --listen " << options.listen
              << " is not ADDR:PORT (an IPv4 address, or [IPv6])\n";
    return kExitUsage;
  }
  if (options.key_from_env) {
    ApiKeyResult key = load_api_key();
    if (!key.ok()) {
      std::cerr << "facegate serve: --key-from-env: " << key.error << '\n';
      return kExitUsage;
    }
    options.gateway.key = std::move(key.key);
  }
  options.gateway.queue_wait = std::chrono::milliseconds(options.queue_wait_ms);
  options.gateway.rate_window_margin = std::chrono::milliseconds(options.rate_margin_ms);
  if (options.ledger_file) options.gateway.ledger = std::filesystem::path(*options.ledger_file);
  // Every thread started from here on (the gateway's, libmicrohttpd's) leaves SIGINT and
  // SIGTERM to sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  GatewayResult made = Gateway::create(options.gateway);
  if (!made.ok()) {
    std::cerr << "facegate serve: " << made.error << '\n';
    return kExitUsage;
  }
  Server server(options, std::move(made.gateway));
  MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
          MHD_USE_ERROR_LOG,
      0, nullptr, nullptr, &Server::on_request, &server, MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<const sockaddr*>(&*address), MHD_OPTION_NOTIFY_COMPLETED,
      &Server::on_completed, &server, MHD_OPTION_CONNECTION_LIMIT, options.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, options.per_ip_connections,
      MHD_OPTION_CONNECTION_TIMEOUT, options.connection_timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, options.header_memory, MHD_OPTION_END);
  if (daemon == nullptr) {
    std::cerr << "facegate serve: cannot listen on " << options.listen << '\n';
    return kExitUsage;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::cout << "facegate serve: listening on http://" << host << ":" << bound_port(daemon)
            << "/api/v1" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  // Stop accepting; the requests in flight finish (within the grace), then every connection
  // closes and the gateway answers what it still holds.
  MHD_quiesce_daemon(daemon);
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.grace_seconds));
  while (server.active() > 0 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  MHD_stop_daemon(daemon);
  std::cerr << "facegate serve: stopped (" << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << ")\n";
  return kExitOk;
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand(
      "serve", "A gateway with the vendor's face-detect API: local rejects answered, the rest forwarded");
  serve->add_option("--listen", options->listen, "ADDR:PORT to listen on ([ADDR] for IPv6)")
      ->capture_default_str();
  serve->add_option("--upstream", options->gateway.upstream,
                    "The service's base URL (default: $DASHSCOPE_HTTP_BASE_URL or the vendor's)");
  serve->add_flag("--key-from-env", options->key_from_env,
                  "Forward with the gateway's own key (DASHSCOPE_API_KEY ...) instead of the caller's");
  serve->add_option("--queue", options->gateway.queue_limit,
                    "Requests of one model waiting for a rate slot, at most")
      ->check(CLI::Range(0u, 100000u))
      ->capture_default_str();
  serve->add_option("--queue-wait", options->queue_wait_ms, "Longest wait for a rate slot, ms")
      ->check(CLI::Range(0u, 600000u))
      ->capture_default_str();
  serve->add_option("--rps", options->gateway.requests_per_second,
                    "Upstream requests per second for every model instead of the documented rate")
      ->check(CLI::Range(1u, 1000u));
  serve->add_option("--rate-margin", options->rate_margin_ms,
                    "Added to the rate limiter's 1-second window, ms (the service counts arrivals)")
      ->check(CLI::Range(0u, 10000u))
      ->capture_default_str();
  auto* ledger = serve->add_option(
      "--ledger", options->ledger_file,
      "Ledger of upstream calls: identical requests for an unchanged image are answered from it");
  serve->add_flag("--no-ledger", options->no_ledger, "Keep no ledger (the default): every pass is forwarded")
      ->excludes(ledger);
  serve->add_flag("--refresh", options->gateway.reuse.refresh,
                  "Never answer from the ledger (still record)")
      ->needs(ledger);
  serve->add_flag("--retry-ambiguous", options->gateway.reuse.retry_ambiguous,
                  "Forward a request whose identical earlier call may have been billed unanswered")
      ->needs(ledger);
  serve->add_flag("--strict", options->gateway.strict, "Inferred and ambiguous rules reject");
  serve->add_flag("--allow-private-network", options->gateway.fetch.allow_private_network,
                  "Fetch image URLs on loopback and private addresses (tests, intranets)");
  serve->add_option("--max-body", options->max_body, "Largest request body, bytes (413 beyond)")
      ->check(CLI::Range(1024u, 16u * 1024 * 1024))
      ->capture_default_str();
  serve->add_option("--header-memory", options->header_memory,
                    "Memory per connection for the request line and headers, bytes")
      ->check(CLI::Range(4096u, 1024u * 1024))
      ->capture_default_str();
  serve->add_option("--connection-timeout", options->connection_timeout,
                    "Seconds a connection may stay silent before it is closed")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  serve->add_option("--max-connections", options->max_connections, "Connections at once")
      ->check(CLI::Range(1u, 10000u))
      ->capture_default_str();
  serve->add_option("--per-ip", options->per_ip_connections,
                    "Connections at once from one client address")
      ->check(CLI::Range(1u, 10000u))
      ->capture_default_str();
  serve->add_option("--grace", options->grace_seconds,
                    "On SIGINT/SIGTERM, seconds for requests in flight to finish")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  serve->callback([options, &exit_code] { exit_code = run_serve(*options); });
  return serve;
}

}  // namespace facegate::cli
