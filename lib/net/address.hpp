// Which network an IP address belongs to, for the fetcher's "public addresses only" rule.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace facegate::detail {

/// The kind of network an address belongs to. Only public_unicast is reachable by default.
enum class AddressScope : std::uint8_t {
  public_unicast,  ///< global unicast: the only scope a default fetch connects to
  loopback,        ///< 127.0.0.0/8, ::1
  private_network, ///< RFC 1918, CGNAT 100.64.0.0/10, IPv6 ULA fc00::/7, site-local fec0::/10
  link_local,      ///< 169.254.0.0/16, fe80::/10
  unspecified,     ///< 0.0.0.0/8, :: (Linux connects these to the local host)
  multicast,       ///< 224.0.0.0/4, ff00::/8
  reserved,        ///< other IANA special-purpose blocks: documentation, benchmarking, 240/4 ...
};

/// Lower-case name of a scope ("loopback", "private_network", ...).
std::string_view address_scope_name(AddressScope scope) noexcept;

/// The scope of an IPv4 address given in host byte order.
AddressScope ipv4_scope(std::uint32_t address) noexcept;

/// The scope of an IPv6 address (16 bytes, network order). Forms that embed an IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) take the embedded
/// address's scope.
AddressScope ipv6_scope(const std::uint8_t (&address)[16]) noexcept;

/// The scope of a socket address (AF_INET or AF_INET6); nullopt for other families.
std::optional<AddressScope> socket_address_scope(const sockaddr* address,
                                                 socklen_t length) noexcept;

/// The scope of a textual IP literal ("10.0.0.1", "::1", "[::1]", "fe80::1%eth0"); nullopt
/// when the text is not an IP literal. IPv4 must be in dotted-quad form.
std::optional<AddressScope> literal_address_scope(std::string_view text) noexcept;

/// Text of a socket address for messages ("10.0.0.1", "::1"); empty for other families.
std::string socket_address_text(const sockaddr* address, socklen_t length);

/// Whether a connection to an address of `scope` is allowed.
struct AddressPolicy {
  bool allow_loopback = false;         ///< loopback only (tests, local development)
  bool allow_private_network = false;  ///< every scope, loopback included
  /// True when `scope` may be connected to.
  bool allows(AddressScope scope) const noexcept {
    return scope == AddressScope::public_unicast || allow_private_network ||
           (allow_loopback && scope == AddressScope::loopback);
  }
};

}  // namespace facegate::detail
