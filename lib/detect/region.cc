// The DashScope regions and their base URLs (docs/service.md#credentials-and-base-url; the
// DashScope SDKs). The default region's URL is kDefaultDashScopeBaseUrl itself: one fact.
#include <array>

#include "detect/region.hpp"
#include "facegate/detect.hpp"

namespace facegate {
namespace {

constexpr std::array<DashScopeRegion, 4> kRegions = {{
    {kDefaultRegion, kDefaultDashScopeBaseUrl, "China (Beijing)"},
    {"ap-southeast-1", "https://dashscope-intl.aliyuncs.com/api/v1", "Singapore"},
    {"us", "https://dashscope-us.aliyuncs.com/api/v1", "US"},
    {"cn-hongkong", "https://cn-hongkong.dashscope.aliyuncs.com/api/v1", "China (Hong Kong)"},
}};

}  // namespace

std::span<const DashScopeRegion> dashscope_regions() noexcept { return kRegions; }

const DashScopeRegion* find_region(std::string_view name) noexcept {
  for (const DashScopeRegion& region : kRegions) {
    if (region.name == name) return &region;
  }
  return nullptr;
}

std::string detail::region_names() {
  std::string names;
  for (const DashScopeRegion& region : kRegions) {
    names += (names.empty() ? "" : ", ") + std::string(region.name);
  }
  return names;
}

}  // namespace facegate
