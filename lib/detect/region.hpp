// The DashScope regions' names for messages.
#pragma once

#include <string>

namespace facegate::detail {

/// "cn-beijing, ap-southeast-1, us, cn-hongkong": the names of dashscope_regions().
std::string region_names();

}  // namespace facegate::detail
