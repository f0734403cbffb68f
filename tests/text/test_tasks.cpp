// Zero-shot tasks: the Python string rules, the readers (hand-written files in every format under
// tests/fixtures/tasks, expected values checked by hand against the harness rules), the
// harness's _encode_pair on a tiny byte-level BPE (tests/fixtures/tasks/tiny-bpe: 256 byte tokens,
// merges Ġ+y, Ġy+e, Ġye+s, Ġ+n, Ġn+o, b+c, Ġ+Ġ = ids 256..262, <s> 263, </s> 264) and on llama-s,
// the metrics, the errors, and the item counts of the shared files.
#include <gtest/gtest.h>

#include <cmath>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/text/tasks.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;
using text::Task;
using text::TaskDoc;
using text::TaskRequest;

namespace {

std::string fx(const std::string& rel) { return path_join(path_join(test::fixtures(), "tasks"), rel); }
std::string fixture_data() { return fx("data"); }

Task load_fx(const std::string& name, const std::string& rel) { return text::load_task(name, "", fx(rel)); }

void expect_mc(const TaskDoc& d, const std::string& context, const std::vector<std::string>& choices, int gold) {
  ASSERT_EQ(d.requests.size(), choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    EXPECT_EQ(d.requests[i].context, context) << i;
    EXPECT_EQ(d.requests[i].continuation, " " + choices[i]) << i;
  }
  EXPECT_EQ(d.gold, gold);
}

using Ids = std::vector<int32_t>;

Ids concat(const Ids& a, const Ids& b) {
  Ids c = a;
  c.insert(c.end(), b.begin(), b.end());
  return c;
}

const text::Tokenizer& tiny_bpe() {
  static const auto tok = text::load_tokenizer(fx("tiny-bpe"));
  return *tok;
}

}  // namespace

// --- Python string rules ---------------------------------------------------------------------

TEST(TaskPython, StripAndLen) {
  EXPECT_EQ(text::py::rstrip("Answer: \n\t "), "Answer:");
  EXPECT_EQ(text::py::rstrip("a\xC2\xA0"), "a");           // U+00A0 is whitespace to Python
  EXPECT_EQ(text::py::rstrip("a\xE3\x80\x80 "), "a");      // U+3000 too
  EXPECT_EQ(text::py::rstrip("a\x1f"), "a");               // and the separators U+001C..U+001F
  EXPECT_EQ(text::py::rstrip("a\xE2\x80\x8B"), "a\xE2\x80\x8B");  // U+200B (zero width space) is not
  EXPECT_EQ(text::py::strip("  two  words \r\n"), "two  words");
  EXPECT_EQ(text::py::lstrip(" \t B "), "B ");
  EXPECT_EQ(text::py::strip(" \n "), "");
  EXPECT_EQ(text::py::len("abc"), 3u);
  EXPECT_EQ(text::py::len("\xE2\x88\x92" "20 K"), 5u);  // "−20 K": 7 bytes, 5 code points
  EXPECT_EQ(text::py::len("\xF0\x9F\x99\x82"), 1u);     // one emoji
}

TEST(TaskPython, Capitalize) {
  EXPECT_EQ(text::py::capitalize("he"), "He");
  EXPECT_EQ(text::py::capitalize("the Kettle WHISTLES"), "The kettle whistles");  // the rest is lowered
  EXPECT_EQ(text::py::capitalize(""), "");
  EXPECT_EQ(text::py::capitalize(" x"), " x");
  EXPECT_EQ(text::py::capitalize("3 MEN"), "3 men");
  EXPECT_EQ(text::py::capitalize("\xC3\xA9T\xC3\x89"), "\xC3\x89t\xC3\xA9");  // "éTÉ" -> "Été"
  EXPECT_EQ(text::py::capitalize("\xD0\xB4\xD0\x9E\xD0\x9C"), "\xD0\x94\xD0\xBE\xD0\xBC");  // "дОМ" -> "Дом"
  EXPECT_EQ(text::py::capitalize("a\xC4\xB0"), "Ai\xCC\x87");  // "İ".lower() is "i̇" (2 code points)
}

TEST(TaskPython, HellaswagPreprocess) {
  EXPECT_EQ(text::hellaswag_preprocess("  Making tea: [header] How to brew tea [title] Boil the water. The kettle "),
            "Making tea: How to brew tea. Boil the water. The kettle");
  EXPECT_EQ(text::hellaswag_preprocess(" [step] Pour it  slowly. "), " Pour it slowly.");  // strip comes first
  EXPECT_EQ(text::hellaswag_preprocess("Add [title] sugar."), "Add. sugar.");
  EXPECT_EQ(text::hellaswag_preprocess("a [x] [y] b"), "a  b");       // 3 spaces -> 2: one pass, like str.replace
  EXPECT_EQ(text::hellaswag_preprocess("a [[b] c] d"), "a c] d");     // shortest span from the first '['
  EXPECT_EQ(text::hellaswag_preprocess("open [ only"), "open [ only");
  EXPECT_EQ(text::hellaswag_preprocess("a [b\nc] d"), "a [b\nc] d");  // '.' does not match a newline
}

// --- readers ---------------------------------------------------------------------------------

TEST(TaskReaders, KnownTasks) {
  EXPECT_EQ(text::known_tasks(), (std::vector<std::string>{"arc_easy", "arc_challenge", "piqa", "boolq", "hellaswag",
                                                           "winogrande", "openbookqa", "lambada_openai"}));
}

TEST(TaskReaders, ArcLlmFoundry) {
  const Task t = text::load_task("arc_easy", fixture_data());
  EXPECT_EQ(t.format, "llmfoundry-jsonl");
  EXPECT_EQ(t.source, fx("data/tasks/arc_easy/arc_easy.llmfoundry.jsonl"));
  EXPECT_EQ(t.source_sha256, sha256_file(t.source));
  EXPECT_TRUE(t.has_acc_norm);
  EXPECT_FALSE(t.is_lambada);
  ASSERT_EQ(t.docs.size(), 3u);
  expect_mc(t.docs[0], "Question: Which gas do plants take in?\nAnswer:", {"oxygen", "carbon dioxide", "nitrogen", "helium"}, 1);
  EXPECT_EQ(t.docs[0].choice_chars, (std::vector<double>{6, 14, 8, 6}));
  // the padded repeat of "melt" is dropped; gold 3 ("stay the same") becomes 2
  expect_mc(t.docs[1], "Question: If you heat ice, it will\nAnswer:", {"melt", "freeze", "stay the same"}, 2);
  expect_mc(t.docs[2], "Question: What is 20 \xC2\xB0" "C in kelvin?\nAnswer:",
            {"293 K", "\xE2\x88\x92" "20 K", "20 K", "253 K"}, 0);
  EXPECT_EQ(t.docs[2].choice_chars, (std::vector<double>{5, 5, 4, 5}));
}

TEST(TaskReaders, ArcOriginalFormatsPreferred) {
  const Task t = text::load_task("arc_challenge", fixture_data());  // ARC-Challenge-Test.jsonl beside the converted file
  EXPECT_EQ(t.format, "ai2-jsonl");
  EXPECT_EQ(t.source, fx("data/tasks/arc_challenge/ARC-Challenge-Test.jsonl"));
  ASSERT_EQ(t.docs.size(), 2u);  // the blank line is skipped
  expect_mc(t.docs[0], "Question: Which tool measures mass?\nAnswer:", {"balance", "ruler", "thermometer"}, 0);
  expect_mc(t.docs[1], "Question: How many legs does an insect have?\nAnswer:", {"4", "6", "8", "10", "12"}, 1);
  EXPECT_EQ(t.docs[1].choice_chars, (std::vector<double>{1, 1, 1, 2, 2}));

  const Task hf = load_fx("arc_easy", "formats/arc_hf.jsonl");
  EXPECT_EQ(hf.format, "hf-jsonl");
  ASSERT_EQ(hf.docs.size(), 1u);
  expect_mc(hf.docs[0], "Question: Which is a metal?\nAnswer:", {"wood", "iron", "glass"}, 1);
}

TEST(TaskReaders, OpenBookQa) {
  const Task t = text::load_task("openbookqa", fixture_data());
  EXPECT_EQ(t.format, "llmfoundry-jsonl");
  EXPECT_TRUE(t.has_acc_norm);
  ASSERT_EQ(t.docs.size(), 2u);
  expect_mc(t.docs[0], "Predators eat", {"lions", "grass", "prey", "rocks"}, 2);  // the stem alone, no prefix
  expect_mc(t.docs[1], "A magnet will stick to", {"a nail", "a cork", "a glass", "a nail"}, 3);  // repeats kept (ARC only)

  const Task ai2 = load_fx("openbookqa", "formats/obqa_ai2.jsonl");  // answerKey " B": lstrip'ed
  EXPECT_EQ(ai2.format, "ai2-jsonl");
  expect_mc(ai2.docs.at(0), "The sun is a", {"planet", "star", "moon", "comet"}, 1);
  const Task hf = load_fx("openbookqa", "formats/obqa_hf.jsonl");
  EXPECT_EQ(hf.format, "hf-jsonl");
  expect_mc(hf.docs.at(0), "Water freezes at", {"0 \xC2\xB0" "C", "50 \xC2\xB0" "C", "100 \xC2\xB0" "C", "10 \xC2\xB0" "C"}, 0);
  EXPECT_EQ(hf.docs.at(0).choice_chars, (std::vector<double>{4, 5, 6, 5}));
}

TEST(TaskReaders, Piqa) {
  const Task t = text::load_task("piqa", fixture_data());
  EXPECT_EQ(t.format, "original-jsonl");
  const std::string dir = fx("data/tasks/piqa/");
  EXPECT_EQ(t.source, dir + "valid.jsonl; " + dir + "valid-labels.lst");
  EXPECT_EQ(t.source_sha256, sha256_file(dir + "valid.jsonl") + "; " + sha256_file(dir + "valid-labels.lst"));
  ASSERT_EQ(t.docs.size(), 2u);
  expect_mc(t.docs[0], "Question: How do I open a jar?\nAnswer:", {"Twist the lid.", "Twist the jar's label."}, 0);
  // solutions are used as they are (trailing / double spaces included)
  expect_mc(t.docs[1], "Question: dry wet shoes\nAnswer:", {"stuff them with newspaper ", "put  them in the oven"}, 0);
  EXPECT_EQ(t.docs[1].choice_chars, (std::vector<double>{26, 21}));

  const Task hf = load_fx("piqa", "formats/piqa_hf.jsonl");
  EXPECT_EQ(hf.format, "hf-jsonl");
  expect_mc(hf.docs.at(0), "Question: Keep bread fresh\nAnswer:", {"Leave it open.", "Put it in a bag."}, 1);
}

TEST(TaskReaders, BoolQ) {
  const Task t = text::load_task("boolq", fixture_data());
  EXPECT_EQ(t.format, "llmfoundry-jsonl (SuperGLUE passage titles missing)");
  EXPECT_FALSE(t.has_acc_norm);
  ASSERT_EQ(t.docs.size(), 3u);
  expect_mc(t.docs[0], "Ethanol fuel is made from corn.\nQuestion: is ethanol made from corn?\nAnswer:", {"no", "yes"}, 1);
  EXPECT_TRUE(t.docs[0].choice_chars.empty());
  // a passage holding "\nQuestion: " itself: the last one starts the question
  expect_mc(t.docs[1],
            "A book called ``Snakes in\nQuestion: The Answer Book'' exists.\nQuestion: is there a book about snakes?\nAnswer:",
            {"no", "yes"}, 1);
  expect_mc(t.docs[2], "Cats are mammals.\nQuestion: are cats reptiles?\nAnswer:", {"no", "yes"}, 0);

  const Task sg = load_fx("boolq", "formats/boolq_superglue.jsonl");
  EXPECT_EQ(sg.format, "superglue-jsonl");
  expect_mc(sg.docs.at(0), "Sky -- The sky appears blue.\nQuestion: is the sky blue?\nAnswer:", {"no", "yes"}, 1);
  const Task g = load_fx("boolq", "formats/boolq_google.jsonl");  // SuperGLUE's passage rebuilt from the title
  EXPECT_EQ(g.format, "boolq-jsonl");
  expect_mc(g.docs.at(0), "Sky -- The sky appears blue.\nQuestion: is the sky green?\nAnswer:", {"no", "yes"}, 0);
  const Task nt = load_fx("boolq", "formats/boolq_google_notitle.jsonl");
  EXPECT_EQ(nt.format, "boolq-jsonl (SuperGLUE passage titles missing)");
  expect_mc(nt.docs.at(0), "Grass is green.\nQuestion: is grass green?\nAnswer:", {"no", "yes"}, 1);
}

TEST(TaskReaders, HellaSwagOriginal) {
  const Task t = load_fx("hellaswag", "formats/hellaswag_val.jsonl");
  EXPECT_EQ(t.format, "original-jsonl");
  ASSERT_EQ(t.docs.size(), 2u);
  expect_mc(t.docs[0], "Roof repair: A man is sitting on a roof. He",
            {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a cube.",
             "starts pulling up roofing on a roof."},
            3);
  // capitalize lowers the rest of ctx_b; the [step] ending keeps the space that strip() could not see
  expect_mc(t.docs[1], "Making tea: How to brew tea. Boil the water. The kettle whistles",
            {" Pour it slowly.", "Wait then drink.", "Add. sugar.", "Stop."}, 0);
  EXPECT_EQ(t.docs[1].choice_chars, (std::vector<double>{16, 16, 11, 5}));
}

TEST(TaskReaders, HellaSwagLlamaCppText) {
  const Task t = load_fx("hellaswag", "formats/hellaswag_llamacpp.txt");
  EXPECT_EQ(t.format, "llama.cpp-text (ctx_b not re-capitalized)");
  ASSERT_EQ(t.docs.size(), 2u);
  // "he" stays lower case here (the documented deviation from the jsonl reading above)
  expect_mc(t.docs[0], "Roof repair: A man is sitting on a roof. he",
            {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a cube.",
             "starts pulling up roofing on a roof."},
            3);
  // lines with a [...] span get the harness preprocess; the double space of a line without one stays
  expect_mc(t.docs[1], "Family Life: How to play. Visit a site like to find games.",
            {"is fun.", "Ask  them first.", " Try it .", "Go outside."}, 1);
  EXPECT_EQ(t.docs[1].choice_chars, (std::vector<double>{7, 16, 9, 11}));

  if (!text::tasks_read_bzip2()) GTEST_SKIP() << "built without libbz2";
  const Task bz = text::load_task("hellaswag", fixture_data());  // the same text, bzip2-compressed
  EXPECT_EQ(bz.source, fx("data/tasks/hellaswag/hellaswag_val_full.txt.bz2"));
  ASSERT_EQ(bz.docs.size(), t.docs.size());
  for (size_t d = 0; d < t.docs.size(); ++d) {
    EXPECT_EQ(bz.docs[d].gold, t.docs[d].gold);
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(bz.docs[d].requests[i].continuation, t.docs[d].requests[i].continuation);
  }
}

TEST(TaskReaders, WinoGrande) {
  const Task t = text::load_task("winogrande", fixture_data());
  EXPECT_EQ(t.format, "original-jsonl");
  EXPECT_FALSE(t.has_acc_norm);
  EXPECT_EQ(t.source, fx("data/tasks/winogrande/dev.jsonl"));  // answers in the records: labels file not needed
  ASSERT_EQ(t.docs.size(), 2u);
  const TaskDoc& a = t.docs[0];
  ASSERT_EQ(a.requests.size(), 2u);
  EXPECT_EQ(a.requests[0].context, "Anna gave Beth a gift because Anna");
  EXPECT_EQ(a.requests[1].context, "Anna gave Beth a gift because Beth");
  EXPECT_EQ(a.requests[0].continuation, " was grateful.");
  EXPECT_EQ(a.requests[1].continuation, " was grateful.");
  EXPECT_EQ(a.gold, 1);
  EXPECT_TRUE(a.choice_chars.empty());
  const TaskDoc& b = t.docs[1];  // strip() only trims the ends of the text after '_'
  EXPECT_EQ(b.requests[0].context, "The cup fell off the table because the cup");
  EXPECT_EQ(b.requests[1].context, "The cup fell off the table because the table");
  EXPECT_EQ(b.requests[1].continuation, " was  wobbly.");
  EXPECT_EQ(b.gold, 1);

  const Task test_split = load_fx("winogrande", "formats/winogrande_test.jsonl");  // answers "" -> labels file
  EXPECT_EQ(test_split.source, fx("formats/winogrande_test.jsonl") + "; " + fx("formats/winogrande_test-labels.lst"));
  ASSERT_EQ(test_split.docs.size(), 2u);
  EXPECT_EQ(test_split.docs[0].gold, 1);
  EXPECT_EQ(test_split.docs[1].gold, 0);
  EXPECT_EQ(test_split.docs[1].requests[0].context, "Mine");
  EXPECT_EQ(test_split.docs[1].requests[1].context, "Yours");
  EXPECT_EQ(test_split.docs[1].requests[1].continuation, " is the best.");
}

TEST(TaskReaders, Lambada) {
  const Task t = text::load_task("lambada_openai", fixture_data());
  EXPECT_TRUE(t.is_lambada);
  EXPECT_FALSE(t.has_acc_norm);
  ASSERT_EQ(t.docs.size(), 3u);
  for (const TaskDoc& d : t.docs) {
    ASSERT_EQ(d.requests.size(), 1u);
    EXPECT_EQ(d.gold, 0);
  }
  EXPECT_EQ(t.docs[0].requests[0].context, "He opened the door and saw his old friend");
  EXPECT_EQ(t.docs[0].requests[0].continuation, " Harlin");
  EXPECT_EQ(t.docs[1].requests[0].context, "\"Hello,\" she said.\n\nHe replied");  // split on ' ' only
  EXPECT_EQ(t.docs[1].requests[0].continuation, " \"goodbye");
  EXPECT_EQ(t.docs[2].requests[0].context, "");
  EXPECT_EQ(t.docs[2].requests[0].continuation, " Word");
}

// --- errors ----------------------------------------------------------------------------------

TEST(TaskErrors, UnknownTaskAndMissingFiles) {
  EXPECT_EQ(error_of([] { text::load_task("mmlu", fixture_data()); }),
            "task \"mmlu\": unknown task (known: arc_easy, arc_challenge, piqa, boolq, hellaswag, winogrande, "
            "openbookqa, lambada_openai)");
  EXPECT_EQ(error_of([] { text::load_task("piqa", "/nonexistent"); }),
            "piqa: no task file found (tried /nonexistent/tasks/piqa/valid.jsonl, /nonexistent/piqa/valid.jsonl)");
  EXPECT_EQ(error_of([] { text::load_task("piqa", "", "/nonexistent/valid.jsonl"); }),
            "/nonexistent/valid.jsonl: task file not found");
  EXPECT_NE(error_of([] { text::load_task("piqa", ""); }).find("no data directory"), std::string::npos);
  const std::string p = fx("bad/piqa_nolabels/valid.jsonl");
  EXPECT_EQ(error_of([&] { text::load_task("piqa", "", p); }),
            p + ": records without \"label\" and no labels file (looked for " + fx("bad/piqa_nolabels/valid-labels.lst") + ")");
}

TEST(TaskErrors, MalformedRecordsNameFileAndLine) {
  const std::string bad_json = fx("bad/arc_bad_json.jsonl");
  const std::string e1 = error_of([&] { text::load_task("arc_easy", "", bad_json); });
  EXPECT_EQ(e1.rfind(bad_json + ":3: invalid JSON", 0), 0u) << e1;
  EXPECT_EQ(error_of([] { load_fx("arc_easy", "bad/arc_gold.jsonl"); }),
            fx("bad/arc_gold.jsonl") + ":2: gold 7 is not one of the 4 choices");
  EXPECT_EQ(error_of([] { load_fx("winogrande", "bad/wino_nounderscore.jsonl"); }),
            fx("bad/wino_nounderscore.jsonl") + ":1: the sentence has no \"_\"");
  EXPECT_EQ(error_of([] { load_fx("boolq", "bad/boolq_choices.jsonl"); }),
            fx("bad/boolq_choices.jsonl") + ":1: choices are not [\"no\", \"yes\"]");
  EXPECT_EQ(error_of([] { load_fx("hellaswag", "bad/hellaswag_label.txt"); }),
            fx("bad/hellaswag_label.txt") + ":2: expected the gold label 0-3 (line 2 of an item), got \"x\"");
  EXPECT_EQ(error_of([] { load_fx("hellaswag", "bad/hellaswag_7lines.txt"); }),
            fx("bad/hellaswag_7lines.txt") +
                ": 7 lines, not a multiple of 6 (llama.cpp HellaSwag format: context, gold label, 4 endings per item)");
  // a file of another task
  EXPECT_EQ(error_of([] { text::load_task("piqa", "", fx("data/tasks/winogrande/dev.jsonl")); }),
            fx("data/tasks/winogrande/dev.jsonl") +
                ":1: not a piqa record (expected {\"goal\",\"sol1\",\"sol2\"[,\"label\"]}; found keys answer, option1, "
                "option2, qID, sentence)");
  EXPECT_EQ(error_of([] { text::load_task("lambada_openai", "", fx("formats/hellaswag_llamacpp.txt")); }),
            fx("formats/hellaswag_llamacpp.txt") + ": not a JSON-lines file (a lambada_openai file has one JSON object per line)");
}

TEST(TaskErrors, Bzip2) {
  const std::string p = fx("bad/truncated.txt.bz2");
  const std::string e = error_of([&] { text::load_task("hellaswag", "", p); });
  if (text::tasks_read_bzip2()) EXPECT_EQ(e, p + ": corrupt or truncated bzip2 data");
  else EXPECT_NE(e.find("bunzip2 -k " + p), std::string::npos) << e;
}

// --- encode_request (the harness's _encode_pair) -----------------------------------------------

TEST(TaskEncode, TinyBpeBoundaries) {
  const text::Tokenizer& tok = tiny_bpe();
  auto enc = [&](const std::string& s) { return tok.encode(s, false, true); };
  const Ids answer = {'A', 'n', 's', 'w', 'e', 'r', ':'};
  ASSERT_EQ(enc("Answer: yes"), concat(answer, {258}));  // "Ġyes" = 258

  // no merge across the boundary: ctx + continuation == enc(ctx + cont)
  auto r = text::encode_request(tok, TaskRequest{"Answer:", " yes"});
  EXPECT_EQ(r.context, answer);
  EXPECT_EQ(r.continuation, (Ids{258}));
  EXPECT_EQ(concat(r.context, r.continuation), enc("Answer: yes"));

  // a trailing space moves to the continuation: the same split, not enc("Answer: ") + enc("yes")
  r = text::encode_request(tok, TaskRequest{"Answer: ", "yes"});
  EXPECT_EQ(r.context, answer);
  EXPECT_EQ(r.continuation, (Ids{258}));
  EXPECT_EQ(concat(enc("Answer: "), enc("yes")), concat(answer, {' ', 'y', 'e', 's'}));

  // all trailing whitespace moves ("\n\n" too; U+00A0 is whitespace to Python)
  r = text::encode_request(tok, TaskRequest{"Q:\n\n", "no"});
  EXPECT_EQ(r.context, (Ids{'Q', ':'}));
  EXPECT_EQ(r.continuation, (Ids{'\n', '\n', 'n', 'o'}));
  r = text::encode_request(tok, TaskRequest{"a\xC2\xA0", "b"});
  EXPECT_EQ(r.context, (Ids{'a'}));
  EXPECT_EQ(r.continuation, (Ids{0xC2, 0xA0, 'b'}));

  // a merge across the boundary: the continuation is whole[len(ctx):], as the harness slices it
  ASSERT_EQ(enc("abcd"), (Ids{'a', 261, 'd'}));  // "bc" = 261
  r = text::encode_request(tok, TaskRequest{"ab", "cd"});
  EXPECT_EQ(r.context, (Ids{'a', 'b'}));
  EXPECT_EQ(r.continuation, (Ids{'d'}));

  // empty context: the prefix token (BOS <s> = 263), then enc(continuation)
  r = text::encode_request(tok, TaskRequest{"", " no"});
  EXPECT_EQ(r.context, (Ids{263}));
  EXPECT_EQ(r.continuation, (Ids{260}));  // "Ġno"
  r = text::encode_request(tok, TaskRequest{" \n", "x"});  // whitespace only: the same, whitespace kept
  EXPECT_EQ(r.context, (Ids{263}));
  EXPECT_EQ(r.continuation, enc(" \nx"));
}

TEST(TaskEncode, LlamaS) {
  OB1Q_REQUIRE_SHARED();
  const auto tok = text::load_tokenizer(path_join(test::shared(), "models/llama-s"));
  auto enc = [&](const std::string& s) { return tok->encode(s, false, true); };
  for (const TaskRequest& req : {TaskRequest{"Question: Is the sky blue?\nAnswer:", " yes"},
                                 TaskRequest{"Roof repair: A man is sitting on a roof. He", " is ripping level tiles off."},
                                 TaskRequest{"Anna gave Beth a gift because Beth", " was grateful."}}) {
    const auto r = text::encode_request(*tok, req);
    EXPECT_EQ(r.context, enc(req.context));
    EXPECT_EQ(concat(r.context, r.continuation), enc(req.context + req.continuation)) << req.context;
    EXPECT_FALSE(r.continuation.empty());
    // the same request with the space left on the context gives the same split
    const auto moved = text::encode_request(*tok, TaskRequest{req.context + " ", req.continuation.substr(1)});
    EXPECT_EQ(moved.context, r.context);
    EXPECT_EQ(moved.continuation, r.continuation);
  }
  const auto empty = text::encode_request(*tok, TaskRequest{"", " Word"});
  EXPECT_EQ(empty.context, (Ids{tok->bos_id()}));
  EXPECT_EQ(empty.continuation, enc(" Word"));
}

// --- metrics ---------------------------------------------------------------------------------

namespace {

Task two_choice_task(const std::vector<int>& golds, const std::vector<std::vector<double>>& chars) {
  Task t;
  t.name = "arc_easy";
  t.has_acc_norm = true;
  for (size_t d = 0; d < golds.size(); ++d) {
    TaskDoc doc;
    doc.requests = {{"c", " a"}, {"c", " b"}};
    doc.choice_chars = chars[d];
    doc.gold = golds[d];
    t.docs.push_back(doc);
  }
  return t;
}

}  // namespace

TEST(TaskMetrics, AccAccNormAndStderr) {
  // doc 0: tie -> the first index (gold 0), right for both;
  // doc 1: acc picks 0 (-2 > -3), acc_norm picks 1 (-2/2 = -1 < -3/10 = -0.3): gold 1;
  // doc 2: acc picks 1, acc_norm 0 (-4/4 = -1 > -3/1): gold 0.
  const Task t = two_choice_task({0, 1, 0}, {{1, 1}, {2, 10}, {4, 1}});
  const auto m = text::task_metrics(t, {{{-1, false}, {-1, false}}, {{-2, false}, {-3, false}}, {{-4, false}, {-3, false}}});
  EXPECT_EQ(m["alias"], "arc_easy");
  EXPECT_NEAR(m["acc,none"].get<double>(), 1.0 / 3, 1e-15);
  // acc = {1,0,0}: sample variance ((2/3)^2 + 2 (1/3)^2) / 2 = 1/3, stderr sqrt(1/3) / sqrt(3) = 1/3
  EXPECT_NEAR(m["acc_stderr,none"].get<double>(), 1.0 / 3, 1e-15);
  EXPECT_EQ(m["acc_norm,none"].get<double>(), 1.0);
  EXPECT_EQ(m["acc_norm_stderr,none"].get<double>(), 0.0);
  EXPECT_EQ(m.size(), 5u);

  // acc = {1,1,0,0}: variance 1/3, stderr sqrt(1/3)/2 = 0.28867513...
  const Task four = two_choice_task({0, 0, 0, 0}, {{1, 1}, {1, 1}, {1, 1}, {1, 1}});
  const auto m4 = text::task_metrics(four, {{{-1, 0}, {-2, 0}}, {{-1, 0}, {-2, 0}}, {{-2, 0}, {-1, 0}}, {{-2, 0}, {-1, 0}}});
  EXPECT_EQ(m4["acc,none"].get<double>(), 0.5);
  EXPECT_NEAR(m4["acc_stderr,none"].get<double>(), 0.28867513459481287, 1e-15);

  // numpy.argmax lets a NaN win; a single doc has no stderr
  const Task one = two_choice_task({1}, {{1, 1}});
  const auto m1 = text::task_metrics(one, {{{-1, false}, {std::nan(""), false}}});
  EXPECT_EQ(m1["acc,none"].get<double>(), 1.0);
  EXPECT_TRUE(m1["acc_stderr,none"].is_null());
}

TEST(TaskMetrics, AccOnlyTask) {
  Task t = two_choice_task({1, 1}, {{}, {}});
  t.name = "boolq";
  t.has_acc_norm = false;
  const auto m = text::task_metrics(t, {{{-1, false}, {-0.5, false}}, {{-1, false}, {-3, false}}});
  EXPECT_EQ(m, (nlohmann::json{{"alias", "boolq"}, {"acc,none", 0.5}, {"acc_stderr,none", 0.5}}));
}

TEST(TaskMetrics, LambadaPerplexity) {
  Task t;
  t.name = "lambada_openai";
  t.is_lambada = true;
  for (int d = 0; d < 3; ++d) t.docs.push_back(TaskDoc{{{"ctx", " word"}}, {}, 0});
  const auto m = text::task_metrics(t, {{{-1, true}}, {{-2, false}}, {{-3, true}}});
  EXPECT_EQ(m["alias"], "lambada_openai");
  // mean ll = -2: ppl = e^2; stderr(mean ll) = 1/sqrt(3) -> delta method e^2/sqrt(3)
  EXPECT_NEAR(m["perplexity,none"].get<double>(), std::exp(2.0), 1e-12);
  EXPECT_NEAR(m["perplexity_stderr,none"].get<double>(), std::exp(2.0) / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(m["acc,none"].get<double>(), 2.0 / 3, 1e-15);
  EXPECT_NEAR(m["acc_stderr,none"].get<double>(), 1.0 / 3, 1e-15);
  EXPECT_EQ(m.size(), 5u);
}

TEST(TaskMetrics, ShapeMismatch) {
  const Task t = two_choice_task({0, 0}, {{1, 1}, {1, 1}});
  EXPECT_EQ(error_of([&] { text::task_metrics(t, {{{-1, false}, {-2, false}}}); }),
            "task_metrics(arc_easy): 1 score rows for 2 docs");
  EXPECT_EQ(error_of([&] { text::task_metrics(t, {{{-1, false}, {-2, false}}, {{-1, false}}}); }),
            "task_metrics(arc_easy): doc 1 has 1 scores for 2 requests");
}

// --- the shared files --------------------------------------------------------------------------

TEST(TaskShared, CountsFormatsAndFirstItems) {
  OB1Q_REQUIRE_SHARED();
  const std::string data = path_join(test::shared(), "data");
  struct Expect {
    const char* name;
    size_t docs;
    const char* format;
  };
  const Expect expect[] = {{"arc_easy", 2376, "llmfoundry-jsonl"},
                           {"arc_challenge", 1172, "llmfoundry-jsonl"},
                           {"boolq", 3270, "llmfoundry-jsonl (SuperGLUE passage titles missing)"},
                           {"hellaswag", 10042, "llama.cpp-text (ctx_b not re-capitalized)"},
                           {"openbookqa", 500, "llmfoundry-jsonl"},
                           {"piqa", 1838, "original-jsonl"},
                           {"winogrande", 1267, "original-jsonl"},
                           {"lambada_openai", 5153, "original-jsonl"}};
  for (const Expect& e : expect) {
    if (e.name == std::string("hellaswag") && !text::tasks_read_bzip2()) continue;
    const Task t = text::load_task(e.name, data);
    EXPECT_EQ(t.docs.size(), e.docs) << e.name;
    EXPECT_EQ(t.format, e.format) << e.name;
    if (t.name == "arc_easy") {
      // sha256 as MANIFEST.md lists it
      EXPECT_EQ(t.source_sha256, "d2d12e59543acf9a5ef6079634a72b30215e36c2fd4236fff3bc855d287b87f5");
      expect_mc(t.docs[0], "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
                {"Sunlight is the source of energy for nearly all ecosystems.", "Most ecosystems are found on land instead of in water.",
                 "Carbon dioxide is more available than other gases.", "The producers in all ecosystems are plants."},
                0);
    }
    if (t.name == "arc_easy" || t.name == "arc_challenge") {  // llm-foundry's padded 3-choice items, un-padded
      size_t three = 0;
      for (const TaskDoc& d : t.docs) three += d.requests.size() == 3;
      EXPECT_EQ(three, t.name == "arc_easy" ? 7u : 4u) << t.name;
    }
    if (t.name == "boolq") {
      const std::string& c = t.docs[0].requests[0].context;
      EXPECT_EQ(c.rfind("All biomass goes through at least some of these steps", 0), 0u);
      const std::string end = "\nQuestion: does ethanol take more energy make that produces?\nAnswer:";
      EXPECT_EQ(c.substr(c.size() - end.size()), end);
      EXPECT_EQ(t.docs[0].gold, 0);
    }
    if (t.name == "hellaswag") {
      EXPECT_EQ(t.source_sha256, "50b637899e4263c2bc456c2dc726c95d2c8cd8e2a552ea5bd7719ce3cb03fe5b");
      expect_mc(t.docs[0], "Roof shingle removal: A man is sitting on a roof. he",
                {"is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.",
                 "starts pulling up roofing on a roof."},
                3);
    }
    if (t.name == "piqa") EXPECT_EQ(t.docs[0].gold, 0);
    if (t.name == "winogrande") {
      EXPECT_EQ(t.docs[0].requests[1].context, "Sarah was a much better surgeon than Maria so Maria");
      EXPECT_EQ(t.docs[0].requests[0].continuation, " always got the easier cases.");
      EXPECT_EQ(t.docs[0].gold, 1);
    }
    if (t.name == "lambada_openai") {
      EXPECT_EQ(t.source_sha256, "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226");
      EXPECT_EQ(t.docs[0].requests[0].continuation, " signs");
    }
  }
}
