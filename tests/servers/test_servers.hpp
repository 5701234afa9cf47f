// Real HTTP servers on loopback for tests: nginx as a Range-capable static server
// (nginx.conf.in) and fault_server.py for misbehaving ones. Each runs as a child process on a
// free 127.0.0.1 port and is stopped by its destructor, or by the kernel when the test process
// dies first (PR_SET_PDEATHSIG). Helpers throw std::runtime_error, which doctest reports.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace facegate::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// The source tree (FACEGATE_SOURCE_ROOT, set by tests/meson.build).
inline fs::path source_root() {
  const char* root = std::getenv("FACEGATE_SOURCE_ROOT");
  if (root == nullptr) throw std::runtime_error("FACEGATE_SOURCE_ROOT is not set");
  return root;
}

/// Absolute path of the first of `names` found in PATH or the sbin directories (nginx lives
/// in /usr/sbin, often outside a user's PATH).
inline fs::path find_program(std::initializer_list<std::string_view> names) {
  std::vector<fs::path> directories;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream entries(path);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) directories.emplace_back(entry);
    }
  }
  for (const char* extra : {"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin"}) {
    directories.emplace_back(extra);
  }
  for (std::string_view name : names) {
    for (const auto& directory : directories) {
      const fs::path candidate = directory / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  throw std::runtime_error("program not found: " + std::string(*names.begin()));
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

/// Replaces every "@NAME@" of `text` by its value.
inline std::string fill_template(std::string text,
                                 std::initializer_list<std::pair<std::string_view, std::string>> values) {
  for (const auto& [name, value] : values) {
    // Built by append: g++ 12 gives a false -Wrestrict warning for "@" + std::string(name).
    std::string placeholder = "@";
    placeholder.append(name).append("@");
    for (std::size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder, at + value.size())) {
      text.replace(at, placeholder.size(), value);
    }
  }
  return text;
}

/// A fresh directory under the system's temporary directory, removed with its contents.
/// Mode 0755, so that a server running under another user can read what is served from it.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix) {
    std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// A child process (fork + exec), optionally with its stdout on a pipe, its stderr silenced
/// and its stdin on a pipe the test writes. The destructor sends SIGTERM, then SIGKILL after
/// 2 s, and reaps it.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, bool capture_stdout,
               bool silence_stderr = false, bool pipe_stdin = false) {
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int out_fds[2] = {-1, -1};
    int in_fds[2] = {-1, -1};
    if (capture_stdout && ::pipe2(out_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (pipe_stdin && ::pipe2(in_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const int null_fd = silence_stderr ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      if (capture_stdout) ::dup2(out_fds[1], STDOUT_FILENO);
      if (pipe_stdin) ::dup2(in_fds[0], STDIN_FILENO);
      if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (null_fd >= 0) ::close(null_fd);
    if (capture_stdout) {
      ::close(out_fds[1]);
      stdout_fd_ = out_fds[0];
    }
    if (pipe_stdin) {
      ::close(in_fds[0]);
      stdin_fd_ = in_fds[1];
    }
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// One line of the child's stdout, without the newline; nullopt on timeout or end of file.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      pollfd fd{stdout_fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (::poll(&fd, 1, static_cast<int>(std::max<long>(left.count(), 0))) <= 0) continue;
      char c;
      if (::read(stdout_fd_, &c, 1) != 1) return std::nullopt;
      if (c == '\n') return line;
      line += c;
    }
    return std::nullopt;
  }

  /// Writes `text` to the child's stdin (pipe_stdin), all of it.
  void write_stdin(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::write(stdin_fd_, text.data(), text.size());
      if (n <= 0) throw std::runtime_error("write to the child's stdin failed");
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Closes the child's stdin (pipe_stdin): it reads end of file.
  void close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  /// The child's process id; -1 once reaped.
  pid_t pid() const { return pid_; }

  /// True once the child has ended (it is then reaped).
  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return true;
    }
    return false;
  }

  /// Waits for the child to end by itself; returns its exit status (128+signal if killed).
  int wait() {
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    }
    return exit_status_;
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 200 && !exited(); ++i) std::this_thread::sleep_for(10ms);
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        wait();
      }
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
    close_stdin();
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  int exit_status_ = -1;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
inline std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

/// True once something accepts connections on 127.0.0.1:port.
inline bool loopback_port_open(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool open = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (fd >= 0) ::close(fd);
  return open;
}

inline std::string loopback_url(std::uint16_t port, std::string_view path,
                                std::string_view scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/" + std::string(path);
}

/// Sends `request` (a whole HTTP/1.0 request) to 127.0.0.1:port on a connection of its own and
/// reads the answer to its end (the server closes it): status line and headers included.
inline std::string loopback_http_exchange(std::uint16_t port, std::string_view request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool sent = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                        static_cast<ssize_t>(request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; sent && (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!sent) throw std::runtime_error("cannot send a request to 127.0.0.1:" + std::to_string(port));
  return response;
}

/// One HTTP/1.0 GET of `uri` from 127.0.0.1:port (loopback_http_exchange): the whole response.
inline std::string loopback_http_get(std::uint16_t port, std::string_view uri) {
  return loopback_http_exchange(
      port, "GET " + std::string(uri) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
}

/// A self-signed certificate for 127.0.0.1 made with the openssl command, valid one day.
class SelfSignedCertificate {
 public:
  SelfSignedCertificate() : dir_("facegate-cert-") {
    ChildProcess openssl({find_program({"openssl"}).string(), "req", "-x509", "-newkey", "ec",
                          "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                          "-keyout", key().string(), "-out", certificate().string()},
                         /*capture_stdout=*/true, /*silence_stderr=*/true);
    if (openssl.wait() != 0) throw std::runtime_error("openssl req failed");
  }
  fs::path certificate() const { return dir_.path() / "cert.pem"; }
  fs::path key() const { return dir_.path() / "key.pem"; }

 private:
  TempDir dir_;
};

/// nginx serving `root` over HTTP on 127.0.0.1 and, with a certificate, over HTTPS + HTTP/2.
class NginxServer {
 public:
  explicit NginxServer(const fs::path& root, const SelfSignedCertificate* tls = nullptr)
      : prefix_("facegate-nginx-") {
    const fs::path templates = source_root() / "tests" / "servers";
    fs::create_directories(prefix_.path() / "tmp");
    fs::create_directories(prefix_.path() / "conf.d");
    // A port can be taken between choosing and binding it: try again with others.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_loopback_port();
      const std::string config = fill_template(
          read_text(templates / "nginx.conf.in"),
          {{"PREFIX", prefix_.path().string()}, {"PORT", std::to_string(port_)},
           {"ROOT", root.string()}});
      write_text(prefix_.path() / "nginx.conf", config);
      if (tls != nullptr) {
        tls_port_ = free_loopback_port();
        write_text(prefix_.path() / "conf.d" / "tls.conf",
                   fill_template(read_text(templates / "nginx_tls.conf.in"),
                                 {{"TLS_PORT", std::to_string(tls_port_)},
                                  {"ROOT", root.string()},
                                  {"CERT", tls->certificate().string()},
                                  {"KEY", tls->key().string()}}));
      }
      process_.emplace(std::vector<std::string>{find_program({"nginx"}).string(), "-e",
                                                (prefix_.path() / "error.log").string(), "-p",
                                                prefix_.path().string(), "-c",
                                                (prefix_.path() / "nginx.conf").string()},
                       /*capture_stdout=*/false);
      if (wait_until_listening(tls != nullptr)) return;
      process_.reset();
    }
    throw std::runtime_error("nginx did not start: " + read_text(prefix_.path() / "error.log"));
  }

  /// http://127.0.0.1:port/path
  std::string url(std::string_view path) const { return loopback_url(port_, path); }
  /// https://127.0.0.1:tls_port/path
  std::string tls_url(std::string_view path) const { return loopback_url(tls_port_, path, "https"); }
  /// The access log so far, one line per request (format "fetch" of nginx.conf.in).
  std::string access_log() const { return read_text(prefix_.path() / "access.log"); }
  /// A mark taken before requests, for access_log_since: the access log's line count once a
  /// request for /facegate-log-mark-N of its own is in the log. A client can have a whole
  /// response before nginx writes its line, but nginx (one process) writes it in the same step
  /// as it sends the response's end, before it reads another request: every request answered
  /// before the mark is then logged before it, and none after.
  std::size_t access_log_mark() const {
    const std::string uri = "/facegate-log-mark-" + std::to_string(++marks_made_);
    loopback_http_get(port_, uri);
    for (int i = 0; i < 500; ++i) {
      const std::vector<std::string> lines = access_log_lines();
      for (std::size_t k = lines.size(); k-- > 0;) {
        if (lines[k].find(" " + uri + " ") != std::string::npos) return k + 1;
      }
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("nginx did not log " + uri);
  }
  /// The requests answered between `mark` and now, a line each (the marks' own left out).
  std::vector<std::string> access_log_since(std::size_t mark) const {
    const std::size_t end = access_log_mark() - 1;
    const std::vector<std::string> lines = access_log_lines();
    return {lines.begin() + static_cast<std::ptrdiff_t>(mark),
            lines.begin() + static_cast<std::ptrdiff_t>(end)};
  }

 private:
  std::vector<std::string> access_log_lines() const {
    std::stringstream log(access_log());
    std::vector<std::string> lines;
    for (std::string line; std::getline(log, line);) lines.push_back(line);
    return lines;
  }

  bool wait_until_listening(bool with_tls) {
    for (int i = 0; i < 500; ++i) {
      if (process_->exited()) return false;
      if (loopback_port_open(port_) && (!with_tls || loopback_port_open(tls_port_))) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  TempDir prefix_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::optional<ChildProcess> process_;
  mutable unsigned marks_made_ = 0;
};

/// tests/servers/fault_server.py serving `root` on 127.0.0.1 (see its docstring for paths).
class FaultServer {
 public:
  explicit FaultServer(const fs::path& root)
      : process_({find_program({"python3"}).string(),
                  (source_root() / "tests" / "servers" / "fault_server.py").string(),
                  root.string()},
                 /*capture_stdout=*/true) {
    const std::optional<std::string> port = process_.read_line(10s);
    if (!port || port->empty()) throw std::runtime_error("fault_server.py did not start");
    port_ = static_cast<std::uint16_t>(std::stoi(*port));
  }

  /// http://127.0.0.1:port/path
  std::string url(std::string_view path) const { return loopback_url(port_, path); }

 private:
  ChildProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace facegate::test
