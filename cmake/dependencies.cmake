# Every dependency comes from the system (Debian packages) or CMAKE_PREFIX_PATH (a LibTorch
# distribution, e.g. PyTorch's). Nothing is downloaded at configure time.
find_package(PkgConfig REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)

# bzip2 (optional): the zero-shot task readers then open .bz2 files (the HellaSwag file) directly;
# without it they run the bzip2 program, or ask the user to decompress the file.
find_package(BZip2)

# SentencePiece: only the tokenizer tests use it, as an independent reference (see tests/).
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
add_library(ob1q::sentencepiece INTERFACE IMPORTED)
target_link_libraries(ob1q::sentencepiece INTERFACE PkgConfig::SENTENCEPIECE)

# LibTorch: Debian's libtorch-dev (1.13, CPU) or any LibTorch >= 1.13 through CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)
add_library(ob1q::torch INTERFACE IMPORTED)
target_link_libraries(ob1q::torch INTERFACE ${TORCH_LIBRARIES})
# TORCH_CXX_FLAGS carries the ABI define; apply it to everything so all objects agree.
separate_arguments(OB1Q_TORCH_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
add_compile_options(${OB1Q_TORCH_FLAGS})
message(STATUS "ob1q: LibTorch ${Torch_VERSION} (${TORCH_CXX_FLAGS})")
