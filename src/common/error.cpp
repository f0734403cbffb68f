#include "ob1q/common/error.hpp"

namespace ob1q {

void fail(const std::string& where, const std::string& what) { throw Error(where + ": " + what); }

}  // namespace ob1q
