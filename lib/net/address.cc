// Address scopes follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890)
// plus the multicast blocks; anything special-purpose is refused unless a policy allows it.
#include "net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace facegate::detail {
namespace {

struct Ipv4Block {
  std::uint32_t prefix;
  int length;
  AddressScope scope;
};

constexpr std::uint32_t ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d;
}

// IANA IPv4 Special-Purpose Address Registry, and 224.0.0.0/4 multicast (RFC 5771).
constexpr Ipv4Block kIpv4Blocks[] = {
    {ipv4(0, 0, 0, 0), 8, AddressScope::unspecified},          // "this network", RFC 791
    {ipv4(10, 0, 0, 0), 8, AddressScope::private_network},     // RFC 1918
    {ipv4(100, 64, 0, 0), 10, AddressScope::private_network},  // shared (CGNAT), RFC 6598
    {ipv4(127, 0, 0, 0), 8, AddressScope::loopback},           // RFC 1122
    {ipv4(169, 254, 0, 0), 16, AddressScope::link_local},      // RFC 3927
    {ipv4(172, 16, 0, 0), 12, AddressScope::private_network},  // RFC 1918
    {ipv4(192, 0, 0, 0), 24, AddressScope::reserved},          // IETF protocol assignments
    {ipv4(192, 0, 2, 0), 24, AddressScope::reserved},          // TEST-NET-1, RFC 5737
    {ipv4(192, 88, 99, 0), 24, AddressScope::reserved},        // 6to4 relay anycast, RFC 7526
    {ipv4(192, 168, 0, 0), 16, AddressScope::private_network}, // RFC 1918
    {ipv4(198, 18, 0, 0), 15, AddressScope::reserved},         // benchmarking, RFC 2544
    {ipv4(198, 51, 100, 0), 24, AddressScope::reserved},       // TEST-NET-2, RFC 5737
    {ipv4(203, 0, 113, 0), 24, AddressScope::reserved},        // TEST-NET-3, RFC 5737
    {ipv4(224, 0, 0, 0), 4, AddressScope::multicast},          // RFC 5771
    {ipv4(240, 0, 0, 0), 4, AddressScope::reserved},           // RFC 1112, broadcast included
};

bool in_ipv4_block(std::uint32_t address, const Ipv4Block& block) {
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - block.length);
  return (address & mask) == block.prefix;
}

std::uint32_t ipv4_at(const std::uint8_t* bytes) {
  return ipv4(bytes[0], bytes[1], bytes[2], bytes[3]);
}

bool starts_with_bytes(const std::uint8_t (&address)[16], std::initializer_list<std::uint8_t> prefix) {
  std::size_t i = 0;
  for (std::uint8_t byte : prefix) {
    if (address[i++] != byte) return false;
  }
  return true;
}

bool all_zero(const std::uint8_t* bytes, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

// "[::1]" (URL form) -> "::1"; "fe80::1%eth0" -> "fe80::1" (the zone does not change the scope).
std::string_view strip_brackets_and_zone(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (auto percent = text.find('%'); percent != std::string_view::npos) {
    text = text.substr(0, percent);
  }
  return text;
}

}  // namespace

std::string_view address_scope_name(AddressScope scope) noexcept {
  switch (scope) {
    case AddressScope::public_unicast: return "public_unicast";
    case AddressScope::loopback: return "loopback";
    case AddressScope::private_network: return "private_network";
    case AddressScope::link_local: return "link_local";
    case AddressScope::unspecified: return "unspecified";
    case AddressScope::multicast: return "multicast";
    case AddressScope::reserved: return "reserved";
  }
  return "reserved";
}

AddressScope ipv4_scope(std::uint32_t address) noexcept {
  for (const Ipv4Block& block : kIpv4Blocks) {
    if (in_ipv4_block(address, block)) return block.scope;
  }
  return AddressScope::public_unicast;
}

// IANA IPv6 Special-Purpose Address Registry and RFC 4291 section 2.4.
AddressScope ipv6_scope(const std::uint8_t (&address)[16]) noexcept {
  if (all_zero(address, 15)) {
    if (address[15] == 0) return AddressScope::unspecified;  // ::/128
    if (address[15] == 1) return AddressScope::loopback;     // ::1/128
  }
  // ::ffff:0:0/96 IPv4-mapped (RFC 4291 2.5.5.2); ::/96 IPv4-compatible (deprecated, 2.5.5.1).
  if (all_zero(address, 10) && ((address[10] == 0xFF && address[11] == 0xFF) ||
                                (address[10] == 0 && address[11] == 0))) {
    return ipv4_scope(ipv4_at(address + 12));
  }
  // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052): the embedded IPv4 address decides.
  if (starts_with_bytes(address, {0x00, 0x64, 0xFF, 0x9B}) && all_zero(address + 4, 8)) {
    return ipv4_scope(ipv4_at(address + 12));
  }
  // 64:ff9b:1::/48 local-use NAT64 (RFC 8215).
  if (starts_with_bytes(address, {0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01})) {
    return AddressScope::private_network;
  }
  // 2002::/16 6to4 (RFC 3056): the IPv4 address in bytes 2..5 decides.
  if (starts_with_bytes(address, {0x20, 0x02})) return ipv4_scope(ipv4_at(address + 2));
  // 2001::/23 IETF protocol assignments (Teredo included), 2001:db8::/32 documentation.
  if (address[0] == 0x20 && address[1] == 0x01 && address[2] < 0x02) return AddressScope::reserved;
  if (starts_with_bytes(address, {0x20, 0x01, 0x0D, 0xB8})) return AddressScope::reserved;
  // 3fff::/20 documentation (RFC 9637).
  if (address[0] == 0x3F && address[1] == 0xFF && (address[2] & 0xF0) == 0) {
    return AddressScope::reserved;
  }
  if ((address[0] & 0xFE) == 0xFC) return AddressScope::private_network;  // fc00::/7 ULA
  if (address[0] == 0xFE && (address[1] & 0xC0) == 0x80) return AddressScope::link_local;
  if (address[0] == 0xFE && (address[1] & 0xC0) == 0xC0) {
    return AddressScope::private_network;  // fec0::/10 site-local (deprecated, RFC 3879)
  }
  if (address[0] == 0xFF) return AddressScope::multicast;  // ff00::/8
  // Global unicast is 2000::/3 (RFC 4291 2.4); IANA has allocated nothing else.
  if ((address[0] & 0xE0) != 0x20) return AddressScope::reserved;
  return AddressScope::public_unicast;
}

std::optional<AddressScope> socket_address_scope(const sockaddr* address,
                                                 socklen_t length) noexcept {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in v4;
    std::memcpy(&v4, address, sizeof v4);
    return ipv4_scope(ntohl(v4.sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 v6;
    std::memcpy(&v6, address, sizeof v6);
    std::uint8_t bytes[16];
    std::memcpy(bytes, &v6.sin6_addr, sizeof bytes);
    return ipv6_scope(bytes);
  }
  return std::nullopt;
}

std::optional<AddressScope> literal_address_scope(std::string_view text) noexcept {
  const std::string_view bare = strip_brackets_and_zone(text);
  char buffer[INET6_ADDRSTRLEN + 1];
  if (bare.empty() || bare.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, bare.data(), bare.size());
  buffer[bare.size()] = '\0';
  in_addr v4;
  if (inet_pton(AF_INET, buffer, &v4) == 1) return ipv4_scope(ntohl(v4.s_addr));
  std::uint8_t v6[16];
  if (inet_pton(AF_INET6, buffer, v6) == 1) return ipv6_scope(v6);
  return std::nullopt;
}

std::string socket_address_text(const sockaddr* address, socklen_t length) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (address == nullptr) return {};
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in v4;
    std::memcpy(&v4, address, sizeof v4);
    if (inet_ntop(AF_INET, &v4.sin_addr, buffer, sizeof buffer) != nullptr) return buffer;
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 v6;
    std::memcpy(&v6, address, sizeof v6);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, buffer, sizeof buffer) != nullptr) return buffer;
  }
  return {};
}

}  // namespace facegate::detail
