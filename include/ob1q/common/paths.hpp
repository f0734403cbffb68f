// Path helpers on plain strings and POSIX calls, used instead of the C++17 filesystem library
// everywhere in the library and the CLI. Why: PyTorch's libtorch.so exports its own, incompatible
// copies of libstdc++'s filesystem functions and the dynamic linker binds ours to them; on PyTorch
// 2.11's LibTorch every call of remove_all() jumped to address 0 (tests/repo_checks/
// no_std_filesystem.sh keeps the library out).
#pragma once
#include <string>
#include <vector>

namespace ob1q {

// "out/" -> "out"; "/" stays "/".
std::string without_trailing_slashes(std::string p);

// `p` made absolute against the working directory, otherwise as given (no folding, no symbolic
// links resolved); `p` itself when the working directory cannot be read.
std::string absolute_path(const std::string& p);

// Absolute, symbolic links resolved as far as the path exists (realpath of its longest existing
// prefix, the rest appended), "." and ".." folded, no repeated or trailing separator: two spellings
// of one directory give the same string.
std::string resolved_path(const std::string& p);

// Lexical parts, as the C++17 path class has them: "a/b" -> "a" and "b"; "a/b/" -> "a/b" and "";
// "/a" -> "/" and "a"; "a" -> "" and "a"; "/" -> "/" and "".
std::string parent_path(const std::string& p);
std::string file_name(const std::string& p);

// True when `inner` lies strictly below `outer`; both as resolved_path() gives them.
bool strictly_inside(const std::string& inner, const std::string& outer);

// What is at a path. stat_kind() follows symbolic links (a dangling link is `missing`);
// lstat_kind() does not. Any failure to stat (no such file, no permission) reads as `missing`.
enum class PathKind { missing, regular, directory, symlink, other };
PathKind stat_kind(const std::string& p);
PathKind lstat_kind(const std::string& p);

// The names in a directory ("." and ".." left out), in no particular order; as many as could be
// read (none when it cannot be opened).
std::vector<std::string> list_directory(const std::string& dir);

// A directory holding nothing; false when it cannot be read or is no directory.
bool is_empty_directory(const std::string& dir);

// Removes a directory tree (or a file, or a symbolic link) without ever following a symbolic link:
// a link is removed itself, never what it points to, and "link/" means the link. Entries vanishing
// meanwhile are not errors; what cannot be removed is logged, not thrown (it runs on error and
// interrupt paths). No recursion and no full paths: depth is bounded only by open descriptors.
void remove_tree(const std::string& path);

}  // namespace ob1q
