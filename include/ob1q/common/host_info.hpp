// Facts about the machine for reports.
#pragma once
#include <string>

namespace ob1q {

std::string cpu_model_name();  // /proc/cpuinfo's "model name", or "cpu"

}  // namespace ob1q
