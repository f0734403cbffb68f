// Zero-shot tasks: the Python string rules, encode_request (the harness's _encode_pair), the
// metrics, and task lookup. The readers of each file format live in task_readers.cpp.
#include "ob1q/text/tasks.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

// --- Python string semantics -------------------------------------------------------------------

namespace py {
namespace {

// str.isspace(): Unicode White_Space plus the information separators U+001C..U+001F.
bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Byte offset where the trailing whitespace of s begins (s.size() when there is none).
size_t trailing_space_start(std::string_view s) {
  size_t i = 0, end = 0;  // end: just past the last non-space character
  while (i < s.size()) {
    const uint32_t c = decode_utf8(s, i);
    if (!is_space(c)) end = i;
  }
  return end;
}

size_t leading_space_end(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_space(decode_utf8(s, j))) break;
    i = j;
  }
  return i;
}

// Simple case pairs of the blocks named in the header.
uint32_t upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 0x20;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
    return (c & 1) ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
  if ((c >= 0x3B1 && c <= 0x3C1) || (c >= 0x3C3 && c <= 0x3CB)) return c - 0x20;
  if (c == 0x3C2) return 0x3A3;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

// Appends the lower case of c (U+0130 lowers to two code points in Python).
void append_lower(std::string& out, uint32_t c) {
  if (c >= 'A' && c <= 'Z') c += 0x20;
  else if (c < 0x80) {
  } else if (c >= 0xC0 && c <= 0xDE && c != 0xD7) c += 0x20;
  else if (c == 0x178) c = 0xFF;
  else if (c == 0x130) {
    out += 'i';
    c = 0x307;
  } else if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
    c |= 1;
  else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
    c = (c & 1) ? c + 1 : c;
  else if ((c >= 0x391 && c <= 0x3A1) || (c >= 0x3A3 && c <= 0x3AB)) c += 0x20;
  else if (c == 0x386) c = 0x3AC;
  else if (c >= 0x388 && c <= 0x38A) c += 0x25;
  else if (c == 0x38C) c = 0x3CC;
  else if (c == 0x38E || c == 0x38F) c += 0x3F;
  else if (c >= 0x410 && c <= 0x42F) c += 0x20;
  else if (c >= 0x400 && c <= 0x40F) c += 0x50;
  if (c == kInvalidCodePoint) return;  // callers copy invalid bytes themselves
  append_utf8(out, c);
}

}  // namespace

std::string rstrip(std::string_view s) { return std::string(s.substr(0, trailing_space_start(s))); }

std::string lstrip(std::string_view s) { return std::string(s.substr(leading_space_end(s))); }

std::string strip(std::string_view s) { return rstrip(s.substr(leading_space_end(s))); }

size_t len(std::string_view s) {
  size_t n = 0, i = 0;
  while (i < s.size()) decode_utf8(s, i), ++n;
  return n;
}

std::string capitalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    const size_t at = i;
    const uint32_t c = decode_utf8(s, i);
    if (c == kInvalidCodePoint) out.append(s.substr(at, i - at));
    else if (first) append_utf8(out, upper(c));
    else append_lower(out, c);
    first = false;
  }
  return out;
}

}  // namespace py

namespace {

// Python's str.replace(from, to): non-overlapping, left to right, one pass.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

}  // namespace

std::string hellaswag_preprocess(std::string_view text) {
  std::string s = replace_all(py::strip(text), " [title]", ". ");
  // re.sub(r"\[.*?\]", "", s): at each '[' the shortest span up to a ']' on the same line ('.'
  // does not match '\n'); without one, the '[' stays and the scan goes on after it.
  std::string cut;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '[') {
      const size_t close = s.find_first_of("]\n", i + 1);
      if (close != std::string::npos && s[close] == ']') {
        i = close + 1;
        continue;
      }
    }
    cut += s[i++];
  }
  return replace_all(cut, "  ", " ");
}

// --- requests ------------------------------------------------------------------------------------

EncodedRequest encode_request(const Tokenizer& tok, const TaskRequest& r) {
  auto enc = [&](const std::string& t) { return tok.encode(t, /*add_special=*/false, /*parse_special=*/true); };
  const int32_t prefix = tok.bos_id() >= 0 ? tok.bos_id() : tok.eos_id();
  EncodedRequest out;
  const size_t keep = py::trailing_space_start(r.context);
  const std::string context = r.context.substr(0, keep);
  const std::string continuation = r.context.substr(keep) + r.continuation;
  if (context.empty()) {
    if (prefix < 0) fail("encode_request", "the tokenizer has neither a BOS nor an EOS token for an empty context");
    out.context = {prefix};
    out.continuation = enc(continuation);
    return out;
  }
  const std::vector<int32_t> whole = enc(context + continuation);
  out.context = enc(context);
  if (out.context.size() < whole.size())
    out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(out.context.size()), whole.end());
  return out;
}

// --- metrics -------------------------------------------------------------------------------------

namespace {

// numpy.argmax: the first maximum; a NaN is the maximum (its first occurrence wins).
size_t np_argmax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) return i;
    if (v[i] > v[best]) best = i;
  }
  return best;
}

struct MeanStderr {
  double mean = 0;
  nlohmann::json stderr_;  // null below 2 items
};

// The harness's mean and mean_stderr (sample std with ddof 1, over sqrt(n)).
MeanStderr mean_stderr(const std::vector<double>& x) {
  MeanStderr m;
  double sum = 0;
  for (double v : x) sum += v;
  m.mean = sum / static_cast<double>(x.size());
  if (x.size() >= 2) {
    double ss = 0;
    for (double v : x) ss += (v - m.mean) * (v - m.mean);
    m.stderr_ = std::sqrt(ss / static_cast<double>(x.size() - 1)) / std::sqrt(static_cast<double>(x.size()));
  }
  return m;
}

}  // namespace

nlohmann::json task_metrics(const Task& task, const std::vector<std::vector<RequestScore>>& scores) {
  const std::string where = "task_metrics(" + task.name + ")";
  if (task.docs.empty()) fail(where, "the task has no docs");
  if (scores.size() != task.docs.size())
    fail(where, std::to_string(scores.size()) + " score rows for " + std::to_string(task.docs.size()) + " docs");
  for (size_t d = 0; d < scores.size(); ++d)
    if (scores[d].size() != task.docs[d].requests.size())
      fail(where, "doc " + std::to_string(d) + " has " + std::to_string(scores[d].size()) + " scores for " +
                      std::to_string(task.docs[d].requests.size()) + " requests");

  nlohmann::json out = nlohmann::json::object();
  out["alias"] = task.name;
  const size_t n = task.docs.size();
  if (task.is_lambada) {
    std::vector<double> ll(n), greedy(n);
    for (size_t d = 0; d < n; ++d) ll[d] = scores[d][0].ll, greedy[d] = scores[d][0].greedy ? 1.0 : 0.0;
    const MeanStderr l = mean_stderr(ll), a = mean_stderr(greedy);
    const double ppl = std::exp(-l.mean);
    out["perplexity,none"] = ppl;
    // The harness bootstraps this stderr (1000 resamples); here the delta method gives it in
    // closed form: d exp(-m) / dm = -exp(-m), so stderr(ppl) = ppl * stderr(mean ll).
    out["perplexity_stderr,none"] = l.stderr_.is_null() ? nlohmann::json() : nlohmann::json(ppl * l.stderr_.get<double>());
    out["acc,none"] = a.mean;
    out["acc_stderr,none"] = a.stderr_;
    return out;
  }
  std::vector<double> acc(n), acc_norm(n);
  for (size_t d = 0; d < n; ++d) {
    const TaskDoc& doc = task.docs[d];
    std::vector<double> ll(scores[d].size());
    for (size_t i = 0; i < ll.size(); ++i) ll[i] = scores[d][i].ll;
    acc[d] = static_cast<int>(np_argmax(ll)) == doc.gold ? 1.0 : 0.0;
    if (task.has_acc_norm) {
      if (doc.choice_chars.size() != ll.size()) fail(where, "doc " + std::to_string(d) + " has no choice lengths");
      for (size_t i = 0; i < ll.size(); ++i) ll[i] /= doc.choice_chars[i];
      acc_norm[d] = static_cast<int>(np_argmax(ll)) == doc.gold ? 1.0 : 0.0;
    }
  }
  const MeanStderr a = mean_stderr(acc);
  out["acc,none"] = a.mean;
  out["acc_stderr,none"] = a.stderr_;
  if (task.has_acc_norm) {
    const MeanStderr an = mean_stderr(acc_norm);
    out["acc_norm,none"] = an.mean;
    out["acc_norm_stderr,none"] = an.stderr_;
  }
  return out;
}

// --- lookup --------------------------------------------------------------------------------------

const std::vector<std::string>& known_tasks() {
  static const std::vector<std::string> names = {"arc_easy",  "arc_challenge", "piqa",       "boolq",
                                                 "hellaswag", "winogrande",    "openbookqa", "lambada_openai"};
  return names;
}

namespace detail {
// task_readers.cpp: reads `path` (format auto-detected) as task `name`.
Task read_task_file(const std::string& name, const std::string& path);
}  // namespace detail

namespace {

// Where each task's file may be, relative to data_dir/tasks (or data_dir): original formats first.
std::vector<std::string> candidates(const std::string& name) {
  if (name == "arc_easy") return {"arc_easy/ARC-Easy-Test.jsonl", "arc_easy/test.jsonl", "arc_easy/arc_easy.llmfoundry.jsonl"};
  if (name == "arc_challenge")
    return {"arc_challenge/ARC-Challenge-Test.jsonl", "arc_challenge/test.jsonl",
            "arc_challenge/arc_challenge.llmfoundry.jsonl"};
  if (name == "openbookqa") return {"openbookqa/test.jsonl", "openbookqa/openbook_qa.llmfoundry.jsonl"};
  if (name == "piqa") return {"piqa/valid.jsonl"};
  if (name == "boolq") return {"boolq/val.jsonl", "boolq/dev.jsonl", "boolq/boolq.llmfoundry.jsonl"};
  if (name == "hellaswag")
    return {"hellaswag/hellaswag_val.jsonl", "hellaswag/hellaswag_val.jsonl.gz", "hellaswag/hellaswag_val_full.txt",
            "hellaswag/hellaswag_val_full.txt.bz2"};
  if (name == "winogrande") return {"winogrande/dev.jsonl"};
  if (name == "lambada_openai") return {"lambada/lambada_test.jsonl", "lambada_openai/lambada_test.jsonl"};
  std::string known;
  for (const auto& k : known_tasks()) known += (known.empty() ? "" : ", ") + k;
  fail("task \"" + name + "\"", "unknown task (known: " + known + ")");
}

}  // namespace

Task load_task(const std::string& name, const std::string& data_dir, const std::string& file) {
  const std::vector<std::string> rel = candidates(name);  // validates the name first
  std::string path = file;
  if (path.empty()) {
    if (data_dir.empty()) fail(name, "no data directory given and no task file (give one of them)");
    std::string tried;
    for (const std::string& base : {path_join(data_dir, "tasks"), data_dir}) {
      for (const std::string& r : rel) {
        const std::string p = path_join(base, r);
        if (file_exists(p)) {
          path = p;
          break;
        }
        tried += (tried.empty() ? "" : ", ") + p;
      }
      if (!path.empty()) break;
    }
    if (path.empty()) fail(name, "no task file found (tried " + tried + ")");
  } else if (!file_exists(path)) {
    fail(path, dir_exists(path) ? "is a directory, expected the " + name + " task file" : "task file not found");
  }
  Task t = detail::read_task_file(name, path);
  if (t.docs.empty()) fail(path, "no " + name + " items in the file");
  return t;
}

}  // namespace ob1q::text
