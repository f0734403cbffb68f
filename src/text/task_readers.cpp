// Readers of the zero-shot task files (formats and rules: ob1q/text/tasks.hpp).
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tasks.hpp"

#ifdef OB1Q_HAVE_BZIP2
#include <bzlib.h>
#else
#include "ob1q/common/process.hpp"
#endif

namespace ob1q::text {

bool tasks_read_bzip2() {
#ifdef OB1Q_HAVE_BZIP2
  return true;
#else
  return false;
#endif
}

namespace detail {
Task read_task_file(const std::string& name, const std::string& path);
}

namespace {

using json = nlohmann::json;

// --- file content ---------------------------------------------------------------------------

bool is_bzip2(const std::string& s, size_t at = 0) {
  return s.size() >= at + 4 && s.compare(at, 3, "BZh") == 0 && s[at + 3] >= '1' && s[at + 3] <= '9';
}

#ifdef OB1Q_HAVE_BZIP2
// Decompresses every concatenated stream (as bzcat does).
std::string bunzip2(const std::string& path, const std::string& raw) {
  std::string out;
  std::vector<char> buf(1 << 16);
  size_t pos = 0;
  while (pos < raw.size() && is_bzip2(raw, pos)) {
    bz_stream bz;
    std::memset(&bz, 0, sizeof bz);
    if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) fail(path, "cannot initialise the bzip2 decoder");
    bz.next_in = const_cast<char*>(raw.data() + pos);
    bz.avail_in = static_cast<unsigned>(std::min<size_t>(raw.size() - pos, 1u << 30));
    int rc = BZ_OK;
    while (true) {
      bz.next_out = buf.data();
      bz.avail_out = static_cast<unsigned>(buf.size());
      rc = BZ2_bzDecompress(&bz);
      if (rc != BZ_OK && rc != BZ_STREAM_END) break;
      out.append(buf.data(), buf.size() - bz.avail_out);
      if (rc == BZ_STREAM_END) break;
      if (bz.avail_in == 0 && bz.avail_out != 0) {  // wants more input: the file ends mid-stream
        rc = BZ_UNEXPECTED_EOF;
        break;
      }
    }
    pos = static_cast<size_t>(bz.next_in - raw.data());
    BZ2_bzDecompressEnd(&bz);
    if (rc != BZ_STREAM_END) fail(path, "corrupt or truncated bzip2 data");
  }
  return out;
}
#endif

// The file's text: gzip (read_file) and bzip2 content are decompressed.
std::string read_text(const std::string& path) {
  std::string s = read_file(path);
  if (is_bzip2(s)) {
#ifdef OB1Q_HAVE_BZIP2
    s = bunzip2(path, s);
#else
    // Built without libbz2: fall back on the bzip2 program when the system has one (no shell).
    if (auto out = run_program_output({"bzip2", "-dc", "--", path})) return *out;
    fail(path, "is bzip2-compressed, this ob1q was built without libbz2 and no bzip2 program worked: decompress it first "
               "(bunzip2 -k " + path + ", or bzcat it into a file of your own and pass that), or install libbz2-dev and rebuild");
#endif
  }
  return s;
}

struct Line {
  size_t no;  // 1-based
  std::string_view text;
};

// All lines ("\n" or "\r\n"); a final newline does not start another line.
std::vector<Line> split_lines(const std::string& s) {
  std::vector<Line> out;
  size_t pos = 0, no = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    std::string_view line(s.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back({++no, line});
    pos = end + 1;
  }
  return out;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

[[noreturn]] void bad(const std::string& path, size_t line, const std::string& what) {
  fail(path + ":" + std::to_string(line), what);
}

// One JSON-lines record and typed access to its fields, failing with "<file>:<line>: ...".
struct Rec {
  const std::string* path;
  size_t line;
  json obj;

  [[noreturn]] void bad(const std::string& what) const { ::ob1q::text::bad(*path, line, what); }
  bool has(const char* key) const { return obj.contains(key) && !obj[key].is_null(); }
  const json& at(const char* key) const {
    if (!has(key)) bad(std::string("missing \"") + key + "\"");
    return obj[key];
  }
  std::string str(const char* key) const { return as_str(at(key), key); }
  std::string as_str(const json& v, const std::string& what) const {
    if (!v.is_string()) bad("\"" + what + "\" is not a string");
    return v.get<std::string>();
  }
  std::vector<std::string> strs(const json& v, const std::string& what) const {
    if (!v.is_array()) bad("\"" + what + "\" is not a list");
    std::vector<std::string> out;
    for (const json& x : v) out.push_back(as_str(x, what + "[]"));
    return out;
  }
  // An integer given as a number, a digit string ("3") or a bool.
  long integer(const char* key) const {
    const json& v = at(key);
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(LONG_MAX)) return v.get<long>();
    if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<long>();
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (!s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::stol(s);
    }
    bad(std::string("\"") + key + "\" is not an integer label (" + json_brief(v) + ")");
  }
  std::string keys() const {
    std::string k;
    for (auto it = obj.begin(); it != obj.end(); ++it) k += (k.empty() ? "" : ", ") + it.key();
    return k;
  }
};

std::vector<Rec> parse_jsonl(const std::string& path, const std::string& text) {
  std::vector<Rec> recs;
  for (const Line& l : split_lines(text)) {
    if (blank(l.text)) continue;
    json j = parse_json(l.text, path + ":" + std::to_string(l.no));
    if (!j.is_object()) bad(path, l.no, "expected a JSON object, got " + std::string(j.type_name()));
    recs.push_back({&path, l.no, std::move(j)});
  }
  return recs;
}

// "<dir>/<stem>-labels.lst" for "<dir>/<stem>.jsonl[.gz]" (PIQA's and WinoGrande's releases).
std::string labels_path(const std::string& path) {
  std::string p = path;
  for (const char* ext : {".gz", ".jsonl", ".json"})
    if (p.size() > std::strlen(ext) && p.compare(p.size() - std::strlen(ext), std::string::npos, ext) == 0)
      p.resize(p.size() - std::strlen(ext));
  return p + "-labels.lst";
}

// One integer label per non-blank line, each in [lo, hi].
std::vector<long> read_labels(const std::string& path, long lo, long hi) {
  std::vector<long> out;
  const std::string content = read_file(path);
  for (const Line& l : split_lines(content)) {
    if (blank(l.text)) continue;
    const std::string v(l.text);
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || !blank(end) || x < lo || x > hi)
      bad(path, l.no, "expected a label in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got \"" + v + "\"");
    out.push_back(x);
  }
  return out;
}

// The labels of `n` records from "<stem>-labels.lst" next to t.source (each in [lo, hi]); the
// file joins t.source / t.source_sha256. `field` names what the records lack, for the message.
std::vector<long> labels_beside(Task& t, size_t n, long lo, long hi, const char* field) {
  const std::string lp = labels_path(t.source);
  if (!file_exists(lp)) fail(t.source, std::string("records without \"") + field + "\" and no labels file (looked for " + lp + ")");
  std::vector<long> labels = read_labels(lp, lo, hi);
  if (labels.size() != n) fail(lp, std::to_string(labels.size()) + " labels for " + std::to_string(n) + " items in " + t.source);
  t.source += "; " + lp;
  t.source_sha256 += "; " + sha256_file(lp);
  return labels;
}

// Adds a multiple-choice doc: continuation " " + choice (the harness's target_delimiter).
void add_mc(Task& t, const Rec& r, const std::string& context, const std::vector<std::string>& choices, long gold) {
  if (choices.size() < 2) r.bad("fewer than 2 choices");
  if (gold < 0 || gold >= static_cast<long>(choices.size()))
    r.bad("gold " + std::to_string(gold) + " is not one of the " + std::to_string(choices.size()) + " choices");
  TaskDoc d;
  for (const std::string& c : choices) {
    d.requests.push_back({context, " " + c});
    if (t.has_acc_norm) d.choice_chars.push_back(static_cast<double>(py::len(c)));
  }
  d.gold = static_cast<int>(gold);
  t.docs.push_back(std::move(d));
}

long label_index(const Rec& r, const std::vector<std::string>& labels, const std::string& key) {
  const auto it = std::find(labels.begin(), labels.end(), key);
  if (it == labels.end()) r.bad("answerKey \"" + key + "\" is not one of the choice labels");
  return it - labels.begin();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// --- ARC and OpenBookQA ---------------------------------------------------------------------

void read_arc_obqa(Task& t, const std::vector<Rec>& recs) {
  const bool arc = t.name != "openbookqa";
  t.has_acc_norm = true;
  const json& first = recs.front().obj;
  enum { Foundry, Ai2, Hf } kind;
  if (first.contains("query") && first.contains("choices") && first.contains("gold")) kind = Foundry, t.format = "llmfoundry-jsonl";
  else if (first.contains("question") && first["question"].is_object()) kind = Ai2, t.format = "ai2-jsonl";
  else if ((first.contains("question") || first.contains("question_stem")) && first.contains("choices")) kind = Hf, t.format = "hf-jsonl";
  else
    recs.front().bad("not a " + t.name + " record (expected {\"query\",\"choices\",\"gold\"}, AI2's {\"question\":{\"stem\",\"choices\"},\"answerKey\"} "
                     "or HF's {\"question\",\"choices\":{\"text\",\"label\"},\"answerKey\"}; found keys " + recs.front().keys() + ")");
  auto context_of = [&](const std::string& question) {
    return arc ? "Question: " + question + "\nAnswer:" : question;
  };
  for (const Rec& r : recs) {
    if (kind == Foundry) {
      std::string query = r.str("query");
      std::vector<std::string> choices = r.strs(r.at("choices"), "choices");
      long gold = r.integer("gold");
      if (gold < 0 || gold >= static_cast<long>(choices.size()))
        r.bad("gold " + std::to_string(gold) + " is not one of the " + std::to_string(choices.size()) + " choices");
      std::string context = query;
      if (arc) {
        if (!starts_with(query, "Question: ")) r.bad("query does not start with \"Question: \"");
        context = query + "\nAnswer:";
        // llm-foundry pads 3-choice ARC items to 4 by repeating a choice: keep first occurrences.
        std::vector<std::string> unique;
        for (const std::string& c : choices)
          if (std::find(unique.begin(), unique.end(), c) == unique.end()) unique.push_back(c);
        gold = std::find(unique.begin(), unique.end(), choices[gold]) - unique.begin();
        choices = std::move(unique);
      }
      add_mc(t, r, context, choices, gold);
    } else if (kind == Ai2) {
      const Rec q{r.path, r.line, r.at("question")};
      if (!q.obj.is_object()) r.bad("\"question\" is not an object");
      const json& cs = q.at("choices");
      if (!cs.is_array()) r.bad("\"question.choices\" is not a list");
      std::vector<std::string> text, label;
      for (const json& c : cs) {
        const Rec cr{r.path, r.line, c};
        if (!c.is_object()) r.bad("a choice is not an object");
        text.push_back(cr.str("text"));
        label.push_back(cr.str("label"));
      }
      std::string key = r.str("answerKey");
      if (!arc) key = py::lstrip(key);  // the harness: answerKey.lstrip()
      add_mc(t, r, context_of(q.str("stem")), text, label_index(r, label, key));
    } else {
      const std::string question = r.has("question_stem") ? r.str("question_stem") : r.str("question");
      const json& cs = r.at("choices");
      if (!cs.is_object()) r.bad("\"choices\" is not an object {\"text\", \"label\"}");
      const Rec c{r.path, r.line, cs};
      std::vector<std::string> text = r.strs(c.at("text"), "choices.text"), label = r.strs(c.at("label"), "choices.label");
      if (text.size() != label.size()) r.bad("choices.text and choices.label differ in length");
      std::string key = r.str("answerKey");
      if (!arc) key = py::lstrip(key);  // the harness: answerKey.lstrip()
      add_mc(t, r, context_of(question), text, label_index(r, label, key));
    }
  }
}

// --- PIQA -------------------------------------------------------------------------------------

void read_piqa(Task& t, const std::vector<Rec>& recs) {
  t.has_acc_norm = true;
  if (!recs.front().obj.contains("goal"))
    recs.front().bad("not a piqa record (expected {\"goal\",\"sol1\",\"sol2\"[,\"label\"]}; found keys " + recs.front().keys() + ")");
  const bool all_labelled = std::all_of(recs.begin(), recs.end(), [](const Rec& r) { return r.has("label"); });
  std::vector<long> labels;
  if (!all_labelled) labels = labels_beside(t, recs.size(), 0, 1, "label");
  t.format = all_labelled ? "hf-jsonl" : "original-jsonl";
  for (size_t i = 0; i < recs.size(); ++i) {
    const Rec& r = recs[i];
    const long gold = all_labelled ? r.integer("label") : labels[i];
    add_mc(t, r, "Question: " + r.str("goal") + "\nAnswer:", {r.str("sol1"), r.str("sol2")}, gold);
  }
}

// --- BoolQ ------------------------------------------------------------------------------------

void read_boolq(Task& t, const std::vector<Rec>& recs) {
  const json& first = recs.front().obj;
  enum { Foundry, SuperGlue, Google } kind;
  if (first.contains("query") && first.contains("gold")) kind = Foundry, t.format = "llmfoundry-jsonl (SuperGLUE passage titles missing)";
  else if (first.contains("passage") && first.contains("label")) kind = SuperGlue, t.format = "superglue-jsonl";
  else if (first.contains("passage") && first.contains("answer")) kind = Google, t.format = "boolq-jsonl";
  else
    recs.front().bad("not a boolq record (expected {\"query\",\"choices\",\"gold\"}, SuperGLUE's {\"passage\",\"question\",\"label\"} "
                     "or BoolQ's {\"passage\",\"question\",\"answer\"}; found keys " + recs.front().keys() + ")");
  bool titles_missing = false;
  for (const Rec& r : recs) {
    std::string context;
    long gold = 0;
    if (kind == Foundry) {
      const std::string query = r.str("query");
      if (r.strs(r.at("choices"), "choices") != std::vector<std::string>{"no", "yes"})
        r.bad("choices are not [\"no\", \"yes\"]");
      // "Passage: {passage}\nQuestion: {question}?" -- the passage itself may hold "\nQuestion: ".
      const size_t q = query.rfind("\nQuestion: ");
      if (!starts_with(query, "Passage: ") || q == std::string::npos || query.back() != '?')
        r.bad("query is not \"Passage: ...\\nQuestion: ...?\"");
      context = query.substr(std::strlen("Passage: ")) + "\nAnswer:";
      gold = r.integer("gold");
    } else {
      std::string passage = r.str("passage");
      if (kind == Google) {
        // SuperGLUE's passages are "{title} -- {passage}" of Google's release.
        if (r.has("title")) passage = r.str("title") + " -- " + passage;
        else titles_missing = true;
      }
      context = passage + "\nQuestion: " + r.str("question") + "?\nAnswer:";
      gold = r.integer(kind == Google ? "answer" : "label");
    }
    add_mc(t, r, context, {"no", "yes"}, gold);
  }
  if (titles_missing) t.format += " (SuperGLUE passage titles missing)";
}

// --- HellaSwag --------------------------------------------------------------------------------

void read_hellaswag_jsonl(Task& t, const std::vector<Rec>& recs) {
  t.has_acc_norm = true;
  t.format = "original-jsonl";
  if (!recs.front().obj.contains("ctx_a"))
    recs.front().bad("not a hellaswag record (expected {\"activity_label\",\"ctx_a\",\"ctx_b\",\"endings\",\"label\"}; found keys " +
                     recs.front().keys() + ")");
  for (const Rec& r : recs) {
    const std::string ctx = r.str("ctx_a") + " " + py::capitalize(r.str("ctx_b"));
    std::vector<std::string> endings = r.strs(r.at("endings"), "endings");
    for (std::string& e : endings) e = hellaswag_preprocess(e);
    if (r.has("label") && r.at("label").is_string() && r.str("label").empty()) r.bad("no label (a test-split file?)");
    add_mc(t, r, hellaswag_preprocess(r.str("activity_label") + ": " + ctx), endings, r.integer("label"));
  }
}

// llama.cpp's 6-line items; see the header for what is re-applied.
void read_hellaswag_text(Task& t, const std::string& text) {
  t.has_acc_norm = true;
  t.format = "llama.cpp-text (ctx_b not re-capitalized)";
  std::vector<Line> lines = split_lines(text);
  while (!lines.empty() && blank(lines.back().text)) lines.pop_back();
  if (lines.size() % 6 != 0)
    fail(t.source, std::to_string(lines.size()) + " lines, not a multiple of 6 (llama.cpp HellaSwag format: "
                   "context, gold label, 4 endings per item)");
  auto clean = [](std::string_view s) {
    const size_t open = s.find('[');
    const bool span = open != std::string_view::npos && s.find(']', open) != std::string_view::npos;
    return span ? hellaswag_preprocess(s) : std::string(s);
  };
  for (size_t k = 0; k < lines.size(); k += 6) {
    const Line& label = lines[k + 1];
    if (label.text.size() != 1 || label.text[0] < '0' || label.text[0] > '3')
      bad(t.source, label.no, "expected the gold label 0-3 (line 2 of an item), got \"" + std::string(label.text) + "\"");
    TaskDoc d;
    const std::string context = clean(lines[k].text);
    for (size_t e = 0; e < 4; ++e) {
      const std::string choice = clean(lines[k + 2 + e].text);
      d.requests.push_back({context, " " + choice});
      d.choice_chars.push_back(static_cast<double>(py::len(choice)));
    }
    d.gold = label.text[0] - '0';
    t.docs.push_back(std::move(d));
  }
}

// --- WinoGrande -------------------------------------------------------------------------------

void read_winogrande(Task& t, const std::vector<Rec>& recs) {
  if (!recs.front().obj.contains("sentence"))
    recs.front().bad("not a winogrande record (expected {\"sentence\",\"option1\",\"option2\",\"answer\"}; found keys " +
                     recs.front().keys() + ")");
  auto answered = [](const Rec& r) { return r.has("answer") && !(r.obj["answer"].is_string() && r.obj["answer"].get<std::string>().empty()); };
  const bool all_answered = std::all_of(recs.begin(), recs.end(), answered);
  std::vector<long> labels;
  if (!all_answered) labels = labels_beside(t, recs.size(), 1, 2, "answer");
  t.format = "original-jsonl";
  for (size_t i = 0; i < recs.size(); ++i) {
    const Rec& r = recs[i];
    const std::string sentence = r.str("sentence");
    const size_t blank_at = sentence.find('_');
    if (blank_at == std::string::npos) r.bad("the sentence has no \"_\"");
    const long answer = all_answered ? r.integer("answer") : labels[i];
    if (answer != 1 && answer != 2) r.bad("answer " + std::to_string(answer) + " is not 1 or 2");
    // Partial scoring: the option goes into the context, the rest of the sentence is the shared
    // continuation.
    const std::string continuation = " " + py::strip(std::string_view(sentence).substr(blank_at + 1));
    TaskDoc d;
    for (const char* key : {"option1", "option2"}) d.requests.push_back({sentence.substr(0, blank_at) + r.str(key), continuation});
    d.gold = static_cast<int>(answer - 1);
    t.docs.push_back(std::move(d));
  }
}

// --- LAMBADA ----------------------------------------------------------------------------------

void read_lambada(Task& t, const std::vector<Rec>& recs) {
  t.is_lambada = true;
  t.format = "original-jsonl";
  if (!recs.front().obj.contains("text"))
    recs.front().bad("not a lambada record (expected {\"text\"}; found keys " + recs.front().keys() + ")");
  for (const Rec& r : recs) {
    const std::string text = r.str("text");
    // text.split(' '): context = all but the last piece joined by ' ', continuation = ' ' + last.
    const size_t sp = text.rfind(' ');
    TaskDoc d;
    if (sp == std::string::npos) d.requests.push_back({"", " " + text});
    else d.requests.push_back({text.substr(0, sp), " " + text.substr(sp + 1)});
    t.docs.push_back(std::move(d));
  }
}

}  // namespace

Task detail::read_task_file(const std::string& name, const std::string& path) {
  Task t;
  t.name = name;
  t.source = path;
  t.source_sha256 = sha256_file(path);
  const std::string text = read_text(path);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) fail(path, "the file is empty");
  if (text[first] != '{') {
    if (name == "hellaswag") {
      read_hellaswag_text(t, text);
      return t;
    }
    fail(path, "not a JSON-lines file (a " + name + " file has one JSON object per line)");
  }
  const std::vector<Rec> recs = parse_jsonl(path, text);
  if (name == "arc_easy" || name == "arc_challenge" || name == "openbookqa") read_arc_obqa(t, recs);
  else if (name == "piqa") read_piqa(t, recs);
  else if (name == "boolq") read_boolq(t, recs);
  else if (name == "hellaswag") read_hellaswag_jsonl(t, recs);
  else if (name == "winogrande") read_winogrande(t, recs);
  else if (name == "lambada_openai") read_lambada(t, recs);
  else fail(name, "no reader for this task");
  return t;
}

}  // namespace ob1q::text
