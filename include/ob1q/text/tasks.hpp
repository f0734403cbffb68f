// Zero-shot tasks (methods.md §22), torch-free: readers for the task files, the requests of
// EleutherAI lm-evaluation-harness's 0-shot protocol, its _encode_pair, and its metrics.
//
// Every task becomes docs of (context, continuation) requests scored by LL = sum of the
// continuation's token log-probs given the context. Multiple choice: one request per choice,
// continuation " " + choice (harness target_delimiter); acc = argmax LL, acc_norm = argmax
// LL / len(choice) (Python len: code points, the choice without the delimiter).
//
// task           context                                   choices / continuation        metrics
// arc_easy,      "Question: {question}\nAnswer:"           choice texts                  acc, acc_norm
//   arc_challenge
// openbookqa     "{question_stem}"                         choice texts                  acc, acc_norm
// piqa           "Question: {goal}\nAnswer:"               sol1, sol2                    acc, acc_norm
// boolq          "{passage}\nQuestion: {question}?\nAnswer:"  "no", "yes"                acc
// hellaswag      preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b))
//                                                          preprocess(ending)            acc, acc_norm
// winogrande     sentence[:i] + option (i = index of '_'), one per option
//                                                          " " + strip(sentence[i+1:])   acc
// lambada_openai text up to its last ' '                   " " + last word               acc (greedy), perplexity
//
// Formats read (auto-detected from the content; Task::format says which one was read):
//  - "llmfoundry-jsonl" (MosaicML llm-foundry ICL files {"query","choices","gold"}) for arc_*,
//    openbookqa and boolq. ARC: query = "Question: {question}", the harness context is query +
//    "\nAnswer:"; llm-foundry pads 3-choice ARC items to 4 by repeating a choice, such repeats
//    are dropped again (gold remapped) so that the docs are the original ones. OpenBookQA: query =
//    question_stem. BoolQ: query = "Passage: {passage}\nQuestion: {question}?" (the '?' is already
//    there), so the context is query minus "Passage: " plus "\nAnswer:" -- but these passages are
//    Google's BoolQ ones, without the "{title} -- " that SuperGLUE's (the harness's) passages
//    begin with: format "llmfoundry-jsonl (SuperGLUE passage titles missing)", not exact.
//  - "ai2-jsonl": AI2's ARC / OpenBookQA release {"question":{"stem","choices":[{"text","label"}]},
//    "answerKey"}; "hf-jsonl": HF-datasets rows ({"question": str | "question_stem",
//    "choices":{"text":[..],"label":[..]},"answerKey"}); gold = labels.index(answerKey) (OpenBookQA:
//    answerKey.lstrip(), as the harness does).
//  - "original-jsonl": PIQA {"goal","sol1","sol2"} with the labels in "<name>-labels.lst" next to
//    it (or a "label" field); WinoGrande {"sentence","option1","option2","answer":"1"|"2"} (or
//    "<name>-labels.lst"); HellaSwag {"activity_label","ctx_a","ctx_b","endings","label"};
//    LAMBADA {"text"}; BoolQ SuperGLUE {"question","passage","label"} (exact) or Google
//    {"question","passage","answer":bool[,"title"]} whose passage becomes "{title} -- {passage}"
//    as SuperGLUE built it (without a title: "(SuperGLUE passage titles missing)").
//  - "llama.cpp-text": HellaSwag as 6 lines per item (activity_label + ": " + ctx, gold label,
//    4 endings), e.g. hellaswag_val_full.txt[.bz2]. The ctx_a/ctx_b split is gone, so the
//    harness's capitalize(ctx_b) cannot be applied: the one known deviation, named in the format
//    ("llama.cpp-text (ctx_b not re-capitalized)"). Its maker (klosax/hellaswag_text_data,
//    extract_hellaswag.cpp) already deleted [header]/[step]/[substeps]/[title] tags, replaced
//    " [title]" and collapsed double spaces, but left other [...] spans: lines still holding one
//    get the whole harness preprocess, other lines are kept as they are (a second "  " -> " " pass
//    would wrongly shrink the rare double space the harness keeps too). Whitespace at a text's
//    edge after a removed tag (harness: kept, this file: trimmed) cannot be recovered either;
//    whether the raw data has such cases cannot be seen from this file.
// Files may be gzip- or bzip2-compressed (bzip2 only where ob1q_text was built with libbz2).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/text/tokenizer.hpp"

namespace ob1q::text {

struct TaskRequest {
  std::string context, continuation;
};

struct TaskDoc {
  std::vector<TaskRequest> requests;  // one per choice; LAMBADA: exactly one
  std::vector<double> choice_chars;   // len(choice) in code points (acc_norm); empty without acc_norm
  int gold = 0;                       // index of the correct request (LAMBADA: 0)
};

struct Task {
  std::string name;  // one of known_tasks()
  std::vector<TaskDoc> docs;
  bool has_acc_norm = false;
  bool is_lambada = false;    // metrics: acc (= every continuation token greedy) + perplexity
  std::string source;         // file(s) read, "; "-separated (data file first, then a labels file)
  std::string source_sha256;  // sha256 of each file in `source` as stored, same order and separator
  std::string format;         // e.g. "llmfoundry-jsonl", "original-jsonl", "llama.cpp-text (...)"
};

// arc_easy, arc_challenge, piqa, boolq, hellaswag, winogrande, openbookqa, lambada_openai.
const std::vector<std::string>& known_tasks();

// Reads `file` when given (any supported format of that task, auto-detected), else finds the
// task's file under data_dir (as data_dir/tasks/<dir>/<file> or data_dir/<dir>/<file>; original
// formats are preferred over converted ones when several are present).
// Throws ob1q::Error for an unknown task (listing the known ones), no file (listing where it
// looked), a file of another task or format, and malformed records ("<file>:<line>: <what>").
Task load_task(const std::string& name, const std::string& data_dir, const std::string& file = "");

// Whether this build reads .bz2 files (libbz2 found at configure time).
bool tasks_read_bzip2();

struct EncodedRequest {
  std::vector<int32_t> context, continuation;
};

// The harness's HFLM._encode_pair with enc = tok.encode(text, add_special=false, parse_special=true):
// trailing whitespace of the context (Python str.rstrip) moves to the front of the continuation;
// whole = enc(context + continuation), ctx = enc(context), continuation = whole[len(ctx):].
// When a merge crosses the boundary, ctx + continuation != whole: that is what the harness feeds.
// Empty context: ctx = {bos id, else eos id} (the harness's prefix token), continuation =
// enc(continuation). A whitespace-only context also takes the prefix token, with the moved
// whitespace in the continuation (the harness would build an empty context there; no task here
// produces one).
EncodedRequest encode_request(const Tokenizer& tok, const TaskRequest& r);

struct RequestScore {
  double ll = 0;        // sum of the continuation's token log-probs
  bool greedy = false;  // every continuation token is the argmax
};

// Harness-shaped metrics of one task; scores[d][i] belongs to task.docs[d].requests[i].
// Multiple choice: {"alias", "acc,none", "acc_stderr,none"[, "acc_norm,none", "acc_norm_stderr,none"]}.
// LAMBADA: {"alias", "perplexity,none", "perplexity_stderr,none", "acc,none", "acc_stderr,none"}.
// acc = mean over docs of [argmax_i ll == gold] (ties: first index, numpy.argmax; a NaN wins as
// in numpy); acc_norm the same on ll / choice_chars; stderr = sample std (ddof 1) / sqrt(n) (the
// harness's mean_stderr; null below 2 docs). Perplexity = exp(-mean ll) over docs.
// Throws ob1q::Error when the shape of `scores` does not match the task.
nlohmann::json task_metrics(const Task& task, const std::vector<std::vector<RequestScore>>& scores);

// The Python string semantics the rules above depend on (exposed for tests). Text is UTF-8;
// whitespace = Python's str.isspace() set.
namespace py {
std::string rstrip(std::string_view s);      // str.rstrip()
std::string strip(std::string_view s);       // str.strip()
std::string lstrip(std::string_view s);      // str.lstrip()
size_t len(std::string_view s);              // len(str): code points
// str.capitalize(): first character upper (title) case, the rest lower case. Case mapping covers
// ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic; other characters are kept.
std::string capitalize(std::string_view s);
}  // namespace py

// The harness's HellaSwag preprocess: strip, " [title]" -> ". ", delete re "\[.*?\]" matches,
// "  " -> " " (one left-to-right pass, like str.replace).
std::string hellaswag_preprocess(std::string_view text);

}  // namespace ob1q::text
