// socket_bytes.so: an LD_PRELOAD shim that counts, inside the client's own process, the bytes it
// reads from TCP connections to one server port, and the connections it opens to that port.
// run_remote.py loads it into both clients (facegate and node), so that "bytes received" is the
// same quantity for both: what the client process actually took off its sockets, response
// headers included. Bytes a server pushed into the loopback socket buffers after the client had
// stopped reading are not counted (they show up in nginx's $bytes_sent instead).
//
// Environment: SOCKET_BYTES_PORT (the server's TCP port), SOCKET_BYTES_OUT (a file; at exit it
// receives one JSON object {"bytes": N, "reads": N, "connects": N}).
//
// Build: g++ -std=c++20 -O2 -shared -fPIC socket_bytes.cc -o socket_bytes.so -ldl
//
// Intercepted: read, recv, recvfrom, recvmsg and readv, which cover libcurl (recv) and libuv
// (read, and readv/recvmsg on some paths); connect for the connection count. Each successful
// read on a socket costs one extra getpeername(2).
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

std::atomic<std::uint64_t> g_bytes{0};
std::atomic<std::uint64_t> g_reads{0};
std::atomic<std::uint64_t> g_connects{0};
int g_port = -1;  // network byte order is applied when comparing

template <typename Function>
Function next_symbol(const char* name) {
  return reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

bool is_counted_address(const sockaddr* address) {
  if (g_port < 0 || address == nullptr) return false;
  if (address->sa_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port) == g_port;
  }
  if (address->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(address)->sin6_port) == g_port;
  }
  return false;
}

// True when `fd` is a socket whose peer is the counted port.
bool is_counted_socket(int fd) {
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  return is_counted_address(reinterpret_cast<const sockaddr*>(&peer));
}

void count(int fd, ssize_t received) {
  if (received <= 0 || g_port < 0 || !is_counted_socket(fd)) return;
  g_bytes.fetch_add(static_cast<std::uint64_t>(received), std::memory_order_relaxed);
  g_reads.fetch_add(1, std::memory_order_relaxed);
}

__attribute__((constructor)) void read_environment() {
  if (const char* port = std::getenv("SOCKET_BYTES_PORT")) g_port = std::atoi(port);
}

__attribute__((destructor)) void write_totals() {
  const char* path = std::getenv("SOCKET_BYTES_OUT");
  if (path == nullptr) return;
  if (FILE* out = std::fopen(path, "w")) {
    std::fprintf(out, "{\"bytes\": %llu, \"reads\": %llu, \"connects\": %llu}\n",
                 static_cast<unsigned long long>(g_bytes.load()),
                 static_cast<unsigned long long>(g_reads.load()),
                 static_cast<unsigned long long>(g_connects.load()));
    std::fclose(out);
  }
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buffer, size_t length) {
  static const auto real = next_symbol<ssize_t (*)(int, void*, size_t)>("read");
  const ssize_t received = real(fd, buffer, length);
  count(fd, received);
  return received;
}

ssize_t readv(int fd, const iovec* vectors, int vector_count) {
  static const auto real = next_symbol<ssize_t (*)(int, const iovec*, int)>("readv");
  const ssize_t received = real(fd, vectors, vector_count);
  count(fd, received);
  return received;
}

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  static const auto real = next_symbol<ssize_t (*)(int, void*, size_t, int)>("recv");
  const ssize_t received = real(fd, buffer, length, flags);
  if ((flags & MSG_PEEK) == 0) count(fd, received);
  return received;
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* from,
                 socklen_t* from_length) {
  static const auto real =
      next_symbol<ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*)>("recvfrom");
  const ssize_t received = real(fd, buffer, length, flags, from, from_length);
  if ((flags & MSG_PEEK) == 0) count(fd, received);
  return received;
}

ssize_t recvmsg(int fd, msghdr* message, int flags) {
  static const auto real = next_symbol<ssize_t (*)(int, msghdr*, int)>("recvmsg");
  const ssize_t received = real(fd, message, flags);
  if ((flags & MSG_PEEK) == 0) count(fd, received);
  return received;
}

int connect(int fd, const sockaddr* address, socklen_t length) {
  static const auto real = next_symbol<int (*)(int, const sockaddr*, socklen_t)>("connect");
  if (is_counted_address(address)) g_connects.fetch_add(1, std::memory_order_relaxed);
  return real(fd, address, length);
}

}  // extern "C"
