#include "ob1q/io/safetensors.hpp"
