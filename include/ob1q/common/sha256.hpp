// SHA-256 (FIPS 180-4), for token-stream fingerprints and checkpoint manifests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ob1q {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finalises; the object must not be updated afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
// sha256 of a file's bytes as stored (no decompression); throws ob1q::Error naming the file.
std::string sha256_file(const std::string& path);

}  // namespace ob1q
