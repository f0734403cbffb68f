// Precompiled header for the LibTorch targets: parsing ATen dominates compile time.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
