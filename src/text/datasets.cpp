#include "ob1q/text/datasets.hpp"

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/python_random.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/text/json_input.hpp"

namespace ob1q::text {

PplVariant parse_ppl_variant(const std::string& s) {
  if (s == "billm") return PplVariant::Billm;
  if (s == "gptq") return PplVariant::Gptq;
  fail("--ppl-variant", "unknown variant \"" + s + "\" (expected billm or gptq)");
}

namespace {

std::vector<std::string> candidates(const std::string& name, PplVariant v) {
  if (name == "wikitext2") return {"wikitext2/raw/wiki.test.raw", "wikitext2/wiki.test.raw", "wiki.test.raw"};
  if (name == "ptb") {
    if (v == PplVariant::Gptq) return {"ptb/ptb.valid.txt", "ptb.valid.txt"};
    return {"ptb/ptb.test.txt", "ptb.test.txt"};
  }
  if (name == "c4")
    return {"c4/c4-validation.00000-of-00008.json.gz", "c4/c4-validation.00000-of-00008.json",
            "c4/c4-validation.00000-of-00008.head1025.jsonl.gz", "c4-validation.00000-of-00008.json.gz",
            "c4-validation.00000-of-00008.json"};
  fail("--ppl", "unknown dataset \"" + name + "\" (expected wikitext2, ptb, c4 or NAME=PATH)");
}

std::string find_first(const std::string& what, const std::string& data_dir, const std::vector<std::string>& rel) {
  if (data_dir.empty())
    fail(what, "no data directory: pass --data-dir, set $OB1Q_DATA, or give the file as NAME=PATH");
  std::string tried;
  for (const auto& r : rel) {
    std::string p = path_join(data_dir, r);
    if (file_exists(p)) return p;
    tried += (tried.empty() ? "" : ", ") + r;
  }
  fail(what, "no file found under " + data_dir + " (tried " + tried + ")");
}

std::string nonempty(const std::string& path) {
  std::string s = read_file(path);
  if (s.empty()) fail(path, "file is empty");
  return s;
}

// "[ {...}, ... ]" or one JSON object per line; only "text" is used.
std::vector<std::string> parse_c4(const std::string& path, const std::string& s, size_t max_docs) {
  std::vector<std::string> docs;
  auto take = [&](const nlohmann::json& o, size_t line) {
    if (!o.is_object() || !o.contains("text") || !o["text"].is_string())
      fail(path, "record " + std::to_string(line) + " has no string \"text\" field");
    docs.push_back(o["text"].get<std::string>());
  };
  size_t first = s.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && s[first] == '[') {
    const auto arr = parse_json(s, path);
    for (size_t i = 0; i < arr.size() && docs.size() < max_docs; ++i) take(arr[i], i + 1);
  } else {
    size_t pos = 0, line = 0;
    while (pos < s.size() && docs.size() < max_docs) {
      size_t end = s.find('\n', pos);
      if (end == std::string::npos) end = s.size();
      ++line;
      if (s.find_first_not_of(" \t\r", pos) < end)
        take(parse_json(std::string_view(s).substr(pos, end - pos), path + ":" + std::to_string(line)), line);
      pos = end + 1;
    }
  }
  if (docs.empty()) fail(path, "no documents");
  return docs;
}

}  // namespace

DatasetSpec resolve_ppl_dataset(const std::string& arg, const std::string& data_dir, PplVariant variant) {
  auto eq = arg.find('=');
  if (eq != std::string::npos) {
    DatasetSpec ds{arg.substr(0, eq), arg.substr(eq + 1)};
    candidates(ds.name, variant);  // validates the name
    if (!file_exists(ds.path)) fail(ds.path, "dataset file not found");
    return ds;
  }
  return {arg, find_first(arg, data_dir, candidates(arg, variant))};
}

std::string resolve_c4_train(const std::string& data_dir) {
  return find_first("c4 calibration", data_dir,
                    {"c4/c4-train.00000-of-01024.json.gz", "c4/c4-train.00000-of-01024.head1041.jsonl.gz",
                     "c4-train.00000-of-01024.json.gz", "c4/c4-train.00000-of-01024.json"});
}

std::vector<std::string> read_wikitext_rows(const std::string& path) {
  std::string s = nonempty(path);
  std::vector<std::string> rows;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    std::string line = end == std::string::npos ? s.substr(pos) : s.substr(pos, end - pos + 1);
    pos = end == std::string::npos ? s.size() : end + 1;
    // HF's wikitext builder yields the line (with its newline) or "" for whitespace-only lines.
    rows.push_back(line.find_first_not_of(" \t\r\n") == std::string::npos ? "" : line);
  }
  return rows;
}

std::vector<std::string> read_lines_stripped(const std::string& path) {
  std::string s = nonempty(path);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    std::string line = s.substr(pos, end - pos);
    size_t a = line.find_first_not_of(" \t\r\n\f\v"), b = line.find_last_not_of(" \t\r\n\f\v");
    out.push_back(a == std::string::npos ? "" : line.substr(a, b - a + 1));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> read_c4_docs(const std::string& path, size_t max_docs) {
  return parse_c4(path, nonempty(path), max_docs);
}

std::string sha256_of_ids(const std::vector<int32_t>& ids) {
  // The fingerprint is defined on little-endian int32; this build targets little-endian hosts.
  static_assert(sizeof(int32_t) == 4);
  return sha256_hex(ids.data(), ids.size() * sizeof(int32_t));
}

namespace {

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace

TokenStream ppl_token_stream(const DatasetSpec& ds, const Tokenizer& tok, PplVariant variant, int64_t seqlen,
                             bool parse_special) {
  auto encode = [&](const std::string& text) { return tok.encode(text, true, parse_special); };
  TokenStream ts;
  if (ds.name == "wikitext2") {
    ts.ids = encode(join(read_wikitext_rows(ds.path), "\n\n"));
  } else if (ds.name == "ptb") {
    if (variant == PplVariant::Gptq) ts.ids = encode(join(read_wikitext_rows(ds.path), "\n\n"));
    else ts.ids = encode(join(read_lines_stripped(ds.path), " "));
  } else if (ds.name == "c4") {
    if (variant == PplVariant::Billm) {
      ts.ids = encode(join(read_c4_docs(ds.path, 1100), " "));
    } else {
      // GPTQ's original c4 eval: 256 windows from random docs of >= seqlen tokens, seed 0.
      std::vector<std::string> docs = read_c4_docs(ds.path);
      PythonRandom rng(0);
      for (int w = 0; w < 256; ++w) {
        std::vector<int32_t> e;
        for (int tries = 0;; ++tries) {
          if (tries > 100000) fail(ds.path, "no document with at least " + std::to_string(seqlen) + " tokens");
          e = encode(docs[rng.randint(0, static_cast<int64_t>(docs.size()) - 1)]);
          if (static_cast<int64_t>(e.size()) >= seqlen) break;
        }
        int64_t o = rng.randint(0, static_cast<int64_t>(e.size()) - seqlen - 1);
        ts.ids.insert(ts.ids.end(), e.begin() + o, e.begin() + o + seqlen);
      }
    }
  } else {
    fail(ds.name, "unknown perplexity dataset");
  }
  ts.tokens_total = static_cast<int64_t>(ts.ids.size());
  ts.ids_sha256 = sha256_of_ids(ts.ids);
  if (ds.name == "c4" && variant == PplVariant::Billm && ts.tokens_total > 256 * seqlen) ts.ids.resize(256 * seqlen);
  if (static_cast<int64_t>(ts.ids.size()) < seqlen)
    fail(ds.path, "only " + std::to_string(ts.ids.size()) + " tokens, fewer than one window of " + std::to_string(seqlen));
  return ts;
}

}  // namespace ob1q::text
