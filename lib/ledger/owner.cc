// Who claimed a row, and whether that process still runs (proc(5): /proc/PID/stat,
// /proc/sys/kernel/random/boot_id).
//
// A pid alone is not an identity: pids are reused, and they restart after a reboot. A claim
// records the host name, the pid, the process's start time (clock ticks after boot, field 22
// of /proc/PID/stat) and the boot id; its owner is alive when, on the same host and boot, that
// pid runs with that start time and is not a zombie.
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "ledger/internal.hpp"

namespace facegate {
namespace {

struct ProcStat {
  char state = '?';             // field 3: R, S, D, Z, X, ...
  std::uint64_t start_ticks = 0;  // field 22
};

std::string read_small_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Fields after the command name, which is in parentheses and may itself hold spaces and ')'.
std::optional<ProcStat> read_proc_stat(std::int64_t pid) {
  const std::string text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  ProcStat stat;
  fields >> stat.state;
  std::string skipped;
  for (int field = 4; field < 22; ++field) fields >> skipped;  // fields 4..21
  fields >> stat.start_ticks;
  if (!fields) return std::nullopt;
  return stat;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

std::string read_boot_id() {
  std::string id = read_small_file("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

}  // namespace

ClaimOwner ClaimOwner::current() {
  ClaimOwner owner;
  owner.host = host_name();
  owner.pid = ::getpid();
  if (auto stat = read_proc_stat(owner.pid)) owner.start_ticks = stat->start_ticks;
  owner.boot_id = read_boot_id();
  return owner;
}

namespace detail {

bool owner_alive(const ClaimOwner& owner, const ClaimOwner& here,
                 std::chrono::system_clock::time_point claimed_at,
                 std::chrono::system_clock::time_point now, std::chrono::seconds foreign_timeout) {
  if (owner == here) return true;
  if (owner.host != here.host) return now - claimed_at < foreign_timeout;
  if (owner.boot_id != here.boot_id) return false;  // this host has rebooted since the claim
  const auto stat = read_proc_stat(owner.pid);
  return stat && stat->start_ticks == owner.start_ticks && stat->state != 'Z' &&
         stat->state != 'X';
}

}  // namespace detail
}  // namespace facegate
