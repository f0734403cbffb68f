#include "ob1q/eval/zeroshot.hpp"

#include <chrono>
#include <cstdio>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/common/progress.hpp"
#include "ob1q/eval/loglikelihood.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/text/tasks.hpp"
#include "ob1q/text/tokenizer.hpp"

namespace ob1q::eval {

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// The seven QA tasks the paper's Table 1 averages ("AveQA"); Table 7 adds LAMBADA.
const char* kQa7[] = {"arc_easy", "arc_challenge", "piqa", "boolq", "hellaswag", "winogrande", "openbookqa"};

}  // namespace

std::vector<text::Task> load_tasks(const ZeroShotOptions& o) {
  std::vector<text::Task> tasks;
  for (const auto& spec : o.tasks) {
    const auto eq = spec.find('=');
    const std::string name = spec.substr(0, eq), file = eq == std::string::npos ? "" : spec.substr(eq + 1);
    text::Task t = text::load_task(name, o.data_dir, file);
    for (const auto& other : tasks)
      if (other.name == t.name) fail("--tasks", "task " + t.name + " is listed twice");
    tasks.push_back(std::move(t));
  }
  return tasks;
}

// Reads every task before the (slow) model load, so a typo or a missing file fails at once.
nlohmann::json run_zeroshot(const ZeroShotOptions& o) { return run_zeroshot(o, load_tasks(o)); }

nlohmann::json run_zeroshot(const ZeroShotOptions& o, std::vector<text::Task> tasks) {
  if (o.qa_metric != "acc" && o.qa_metric != "acc_norm") fail("--qa-metric", "expected acc or acc_norm");
  auto tok = text::load_tokenizer(o.model_dir);
  auto t0 = clock_type::now();
  std::unique_ptr<model::DecoderModel> owned;
  if (!o.model) {
    owned = model::DecoderModel::load(o.model_dir, o.load);
    OB1Q_INFO("loaded %s on %s as %s in %.1fs", o.model_dir.c_str(), o.load.device.str().c_str(),
              io::float_dtype_name(o.load.dtype), since(t0));
  }
  const model::DecoderModel* model = o.model ? o.model : owned.get();

  std::FILE* dump = nullptr;
  std::string dump_tmp;
  if (!o.dump_requests.empty()) {
    dump_tmp = o.dump_requests + ".partial";
    dump = std::fopen(dump_tmp.c_str(), "w");
    if (!dump) fail(o.dump_requests, "cannot create");
  }
  nlohmann::json results = nlohmann::json::object(), samples = nlohmann::json::object(), seconds = nlohmann::json::object();
  try {
    for (text::Task& task : tasks) {
      const size_t original = task.docs.size();
      if (o.limit > 0 && task.docs.size() > size_t(o.limit)) task.docs.resize(size_t(o.limit));
      auto t1 = clock_type::now();
      std::vector<LlRequest> reqs;
      std::vector<std::pair<size_t, size_t>> where;  // (doc, choice) of every request
      std::vector<text::EncodedRequest> enc;
      for (size_t d = 0; d < task.docs.size(); ++d)
        for (size_t c = 0; c < task.docs[d].requests.size(); ++c) {
          enc.push_back(text::encode_request(*tok, task.docs[d].requests[c]));
          reqs.push_back({enc.back().context, enc.back().continuation});
          where.push_back({d, c});
        }
      Progress bar(task.name, int64_t(reqs.size()), o.progress);
      LlOptions lo;
      lo.batch_tokens = o.batch_tokens;
      lo.batch_size = o.batch_size;
      int64_t shown = 0;
      lo.on_progress = [&](int64_t done) {
        bar.advance(done - shown);
        shown = done;
      };
      const std::vector<LlScore> scores = score_requests(*model, reqs, lo);
      bar.finish();
      std::vector<std::vector<text::RequestScore>> per_doc(task.docs.size());
      for (size_t i = 0; i < scores.size(); ++i) per_doc[where[i].first].push_back({scores[i].ll, scores[i].greedy});
      results[task.name] = text::task_metrics(task, per_doc);
      samples[task.name] = {{"original", original}, {"effective", task.docs.size()}};
      seconds[task.name] = since(t1);
      OB1Q_INFO("%s: %s (%zu docs, %zu requests, %.1fs)", task.name.c_str(), results[task.name].dump().c_str(),
                task.docs.size(), reqs.size(), seconds[task.name].get<double>());
      if (dump)
        for (size_t i = 0; i < scores.size(); ++i) {
          const auto [d, c] = where[i];
          nlohmann::json line = {{"task", task.name}, {"doc", d}, {"choice", c},
                                 {"gold", task.docs[d].gold},
                                 {"context", task.docs[d].requests[c].context},
                                 {"continuation", task.docs[d].requests[c].continuation},
                                 {"context_ids", enc[i].context}, {"continuation_ids", enc[i].continuation},
                                 {"ll", scores[i].ll}, {"greedy", scores[i].greedy}};
          const std::string s = line.dump() + "\n";
          if (std::fwrite(s.data(), 1, s.size(), dump) != s.size()) fail(o.dump_requests, "write failed");
        }
    }
  } catch (...) {
    if (dump) std::fclose(dump), std::remove(dump_tmp.c_str());
    throw;
  }
  if (dump) {
    if (std::fclose(dump) != 0 || std::rename(dump_tmp.c_str(), o.dump_requests.c_str()) != 0)
      fail(o.dump_requests, "cannot finish writing");
  }

  // Averages over the tasks run, with the chosen metric (acc_norm only where the task has it).
  auto metric_of = [&](const std::string& t) {
    const auto& r = results[t];
    const std::string key = o.qa_metric + ",none";
    return r.contains(key) ? r[key].get<double>() : r["acc,none"].get<double>();
  };
  nlohmann::json averages = nlohmann::json::object();
  int qa = 0;
  double qa_sum = 0;
  for (const char* t : kQa7)
    if (results.contains(t)) ++qa, qa_sum += metric_of(t);
  if (qa == 7) averages["qa7"] = qa_sum / 7;  // paper Table 1 "AveQA"
  if (qa == 7 && results.contains("lambada_openai"))
    averages["all8"] = (qa_sum + results["lambada_openai"]["acc,none"].get<double>()) / 8;  // Table 7 "Avg"
  double all = 0;
  for (auto& [t, r] : results.items()) all += metric_of(t);
  averages["tasks_run"] = results.empty() ? 0.0 : all / double(results.size());
  averages["metric"] = o.qa_metric;

  return {{"model", o.model_dir},
          {"device", o.load.device.str()},
          {"dtype", io::float_dtype_name(o.load.dtype)},
          {"protocol", "lm-evaluation-harness 0-shot (docs/methods.md §22)"},
          {"results", results},
          {"averages", averages},
          {"n-samples", samples},
          {"seconds", seconds}};
}

}  // namespace ob1q::eval
