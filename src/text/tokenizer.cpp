#include "ob1q/text/tokenizer.hpp"
