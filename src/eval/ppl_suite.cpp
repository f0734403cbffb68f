#include "ob1q/common/log.hpp"
#include "ob1q/eval/ppl_suite.hpp"


#include <chrono>

#include "ob1q/common/error.hpp"
#include "ob1q/common/progress.hpp"
#include "ob1q/io/weight_source.hpp"

namespace ob1q::eval {

nlohmann::json run_ppl_suite(const PplSuiteOptions& o) {
  using clock = std::chrono::steady_clock;
  // Resolve every dataset file before the (slow) model load, so a typo fails at once.
  std::vector<text::DatasetSpec> specs;
  for (const auto& d : o.datasets) specs.push_back(text::resolve_ppl_dataset(d, o.data_dir, o.variant));
  auto tok = text::load_tokenizer(o.model_dir);
  if (o.parse_special != "auto" && o.parse_special != "on" && o.parse_special != "off")
    fail("--parse-special", "expected auto, on or off");
  const bool parse_special = o.parse_special == "auto" ? tok->parses_special_in_corpora() : o.parse_special == "on";

  auto t0 = clock::now();
  std::unique_ptr<model::DecoderModel> owned;
  if (!o.model) owned = model::DecoderModel::load(o.model_dir, o.load);
  const model::DecoderModel* model = o.model ? o.model : owned.get();
  double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  OB1Q_INFO("loaded %s (%lld blocks, hidden %lld) on %s as %s in %.1fs", o.model_dir.c_str(),
            (long long)model->num_blocks(), (long long)model->config().hidden_size, o.load.device.str().c_str(),
            io::float_dtype_name(o.load.dtype), load_s);

  nlohmann::json out = {{"model", o.model_dir},
                        {"model_type", model->config().model_type},
                        {"device", o.load.device.str()},
                        {"dtype", io::float_dtype_name(o.load.dtype)},
                        {"seqlen", o.seqlen},
                        {"variant", o.variant == text::PplVariant::Billm ? "billm" : "gptq"},
                        {"parse_special", parse_special},
                        {"load_seconds", load_s},
                        {"ppl", nlohmann::json::object()}};
  for (const auto& ds : specs) {
    auto t1 = clock::now();
    text::TokenStream ts = text::ppl_token_stream(ds, *tok, o.variant, o.seqlen, parse_special);
    double tok_s = std::chrono::duration<double>(clock::now() - t1).count();
    int64_t total_windows = static_cast<int64_t>(ts.ids.size()) / o.seqlen;
    if (o.limit_windows > 0) total_windows = std::min(total_windows, o.limit_windows);
    Progress bar(ds.name, total_windows, o.progress);
    PplOptions po{o.seqlen, o.limit_windows, o.batch_size, {}};
    int64_t shown = 0;
    po.on_progress = [&](int64_t done) {
      bar.advance(done - shown);
      shown = done;
    };
    PplResult r = perplexity(*model, ts.ids, po);
    bar.finish();
    double tps = r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0;
    OB1Q_INFO("%s: ppl %.4f over %lld windows (%lld tokens, %.0f tok/s)", ds.name.c_str(), r.ppl, (long long)r.windows,
              (long long)r.tokens, tps);
    out["ppl"][ds.name] = {{"ppl", r.ppl},
                           {"windows", r.windows},
                           {"tokens", r.tokens},
                           {"tokens_total", ts.tokens_total},
                           {"ids_sha256", ts.ids_sha256},
                           {"seconds", r.seconds},
                           {"tokens_per_s", tps},
                           {"tokenize_seconds", tok_s},
                           {"file", ds.path}};
  }
  return out;
}

}  // namespace ob1q::eval
