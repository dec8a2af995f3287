// Implementation of lmms/train/loop.hpp (LMMS_IMPLEMENTATION only).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "lmms/core/error.hpp"
#include "lmms/data/prefetch.hpp"
#include "lmms/io/atomic_write.hpp"
#include "lmms/io/safetensors_torch.hpp"
#include "lmms/train/loop.hpp"

namespace lmms::training {

double lr_factor(schedule s, std::int64_t step, std::int64_t total, std::int64_t warmup) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  switch (s) {
    case schedule::constant: return 1.0;
    case schedule::linear:
      return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
    case schedule::cosine: {
      double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));
    }
  }
  return 1.0;
}

lm_batch collate_right_pad(const std::vector<const token_sample*>& samples, text::token_id pad) {
  std::int64_t T = 0;
  for (const auto* s : samples) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(s->input_ids.size()));
  const auto B = static_cast<std::int64_t>(samples.size());
  lm_batch b;
  b.input_ids = at::full({B, T}, pad, at::kLong);
  b.labels = at::full({B, T}, -100, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  auto ids = b.input_ids.accessor<std::int64_t, 2>();
  auto labels = b.labels.accessor<std::int64_t, 2>();
  auto mask = b.attention_mask.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < B; ++i) {
    const auto& s = *samples[static_cast<std::size_t>(i)];
    if (s.labels.size() != s.input_ids.size()) fail("a sample has ", s.input_ids.size(), " ids but ", s.labels.size(), " labels");
    for (std::size_t t = 0; t < s.input_ids.size(); ++t) {
      ids[i][static_cast<std::int64_t>(t)] = s.input_ids[t];
      labels[i][static_cast<std::int64_t>(t)] = s.labels[t];
      mask[i][static_cast<std::int64_t>(t)] = 1;
      if (t > 0 && s.labels[t] != -100) ++b.label_tokens;  // position t - 1 predicts it
    }
    b.real_tokens += static_cast<std::int64_t>(s.input_ids.size());
  }
  return b;
}

lm_batch collate_packed(const std::vector<const token_sample*>& samples, text::token_id pad, std::int64_t max_length) {
  // first fit in order: rows[r] = the samples of row r
  std::vector<std::vector<const token_sample*>> rows;
  std::int64_t used = 0;
  for (const auto* s : samples) {
    const auto n = static_cast<std::int64_t>(s->input_ids.size());
    if (rows.empty() || used + n > max_length) {
      rows.emplace_back();
      used = 0;
    }
    rows.back().push_back(s);
    used += n;
  }
  std::int64_t T = 0;
  for (const auto& row : rows) {
    std::int64_t n = 0;
    for (const auto* s : row) n += static_cast<std::int64_t>(s->input_ids.size());
    T = std::max(T, n);
  }
  const auto B = static_cast<std::int64_t>(rows.size());
  lm_batch b;
  b.input_ids = at::full({B, T}, pad, at::kLong);
  b.labels = at::full({B, T}, -100, at::kLong);
  b.attention_mask = at::zeros({B, T}, at::kLong);
  auto ids = b.input_ids.accessor<std::int64_t, 2>();
  auto labels = b.labels.accessor<std::int64_t, 2>();
  auto mask = b.attention_mask.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < B; ++i) {
    std::int64_t at_token = 0, segment = 0;
    for (const auto* s : rows[static_cast<std::size_t>(i)]) {
      if (s->labels.size() != s->input_ids.size()) fail("a sample has ", s->input_ids.size(), " ids but ", s->labels.size(), " labels");
      ++segment;
      for (std::size_t t = 0; t < s->input_ids.size(); ++t, ++at_token) {
        ids[i][at_token] = s->input_ids[t];
        labels[i][at_token] = t == 0 ? -100 : s->labels[t];  // nothing predicts a sample's first token
        mask[i][at_token] = segment;
        if (t > 0 && s->labels[t] != -100) ++b.label_tokens;
      }
      b.real_tokens += static_cast<std::int64_t>(s->input_ids.size());
    }
  }
  return b;
}

namespace {
bool no_decay(const std::string& name, const at::Tensor& p) {
  return p.dim() < 2 || name.ends_with(".bias") || name.find("norm") != std::string::npos;
}
}  // namespace

batch_source token_samples_source(const std::vector<token_sample>& samples, text::token_id pad_token_id) {
  const std::vector<token_sample>* all = &samples;
  batch_source source{samples.size(), [all, pad_token_id](const std::vector<std::size_t>& indices) {
                        std::vector<const token_sample*> chosen;
                        for (std::size_t i : indices) chosen.push_back(&(*all)[i]);
                        return collate_right_pad(chosen, pad_token_id);
                      }};
  for (const auto& s : samples) source.lengths.push_back(static_cast<std::int64_t>(s.input_ids.size()));
  source.text_only.assign(samples.size(), true);
  return source;
}

lm_trainer::lm_trainer(lm::causal_lm model, loop_options options)
    : lm_trainer(
          model.ptr(),
          [model](const lm_batch& b) mutable {
            at::Tensor pos = lm::packed_position_ids(b.attention_mask, b.input_ids.size(0), b.input_ids.size(1));
            return model->model->forward_embeds(model->model->embed(b.input_ids), pos, b.attention_mask);
          },
          [model](const at::Tensor& h) mutable { return model->logits_from_hidden(h); }, std::move(options)) {}

lm_trainer::lm_trainer(std::shared_ptr<torch::nn::Module> model, forward_fn hidden, head_fn head, loop_options options)
    : lm_trainer(std::move(model), forward_fn(), std::move(options)) {
  hidden_ = std::move(hidden);
  head_ = std::move(head);
}

at::Tensor lm_trainer::summed_loss(const lm_batch& b) {
  nn::autocast_scope autocast(options_.precision);
  at::Tensor targets = lm::shift_labels(b.labels).reshape({-1});
  if (!head_) {
    at::Tensor logits = forward_(b).to(at::kFloat);
    return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets, {}, at::Reduction::Sum, -100);
  }
  // the head only where a label is: a 32k-vocabulary head over every image and prompt token
  // is a quarter of a small VLM's step, and those logits never reach the loss
  at::Tensor hidden = hidden_(b);
  at::Tensor keep = (targets != -100).nonzero().squeeze(1);
  at::Tensor logits = head_(hidden.reshape({-1, hidden.size(-1)}).index_select(0, keep)).to(at::kFloat);
  return at::cross_entropy_loss(logits, targets.index_select(0, keep), {}, at::Reduction::Sum, -100);
}

lm_trainer::lm_trainer(std::shared_ptr<torch::nn::Module> model, forward_fn forward, loop_options options)
    : model_(std::move(model)), forward_(std::move(forward)), options_(std::move(options)) {
  std::vector<at::Tensor> decay, plain;
  for (const auto& p : model_->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    trainable_.emplace_back(p.key(), p.value());
    (no_decay(p.key(), p.value()) ? plain : decay).push_back(p.value());
  }
  if (trainable_.empty()) fail("nothing to train: every parameter is frozen");
  scaler_.scale = options_.initial_loss_scale;
  std::vector<adamw::group> groups;
  if (!decay.empty()) groups.push_back({decay, options_.weight_decay});
  if (!plain.empty()) groups.push_back({plain, 0.0});
  optimizer_ = std::make_unique<adamw>(std::move(groups));
}

double lm_trainer::evaluate(const batch_source& samples) {
  if (samples.size == 0) return 0.0;
  at::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  double sum = 0;
  std::int64_t tokens = 0;
  for (std::size_t k = 0; k < samples.size; k += static_cast<std::size_t>(options_.batch_size)) {
    std::vector<std::size_t> chosen;
    for (std::size_t i = k; i < std::min(samples.size, k + static_cast<std::size_t>(options_.batch_size)); ++i)
      chosen.push_back(i);
    auto b = samples.collate(chosen);
    sum += summed_loss(b).item<double>();
    tokens += b.label_tokens;
  }
  model_->train(was_training);
  return sum / static_cast<double>(std::max<std::int64_t>(1, tokens));
}

std::string loss_curve_svg(const std::vector<std::pair<double, double>>& train,
                           const std::vector<std::pair<double, double>>& eval) {
  const double W = 640, H = 360, L = 56, R = 16, T = 24, B = 40;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto* s : {&train, &eval})
    for (auto [x, y] : *s) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream o;
  o.precision(5);
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << L << "\" y=\"16\">loss (train: line, eval: dots)</text>\n"
    << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n"
    << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double y = y0 + (y1 - y0) * i / 4.0, x = x0 + (x1 - x0) * i / 4.0;
    o << "<text x=\"4\" y=\"" << py(y) + 4 << "\">" << y << "</text>\n"
      << "<text x=\"" << px(x) - 8 << "\" y=\"" << H - B + 16 << "\">" << static_cast<long long>(x) << "</text>\n";
  }
  o << "<text x=\"" << W / 2 << "\" y=\"" << H - 6 << "\">step</text>\n<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
  for (auto [x, y] : train) o << px(x) << "," << py(y) << " ";
  o << "\"/>\n";
  for (auto [x, y] : eval) o << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3.5\" fill=\"#d62728\"/>\n";
  o << "</svg>\n";
  return o.str();
}

void lm_trainer::write_loss_curve(const std::filesystem::path& file) const {
  io::write_file_atomically(file, loss_curve_svg(train_curve_, eval_curve_));
}

std::filesystem::path lm_trainer::latest_checkpoint(const std::filesystem::path& output_dir) {
  std::filesystem::path best;
  long long best_step = -1;
  if (!std::filesystem::is_directory(output_dir)) return best;
  for (const auto& e : std::filesystem::directory_iterator(output_dir)) {
    auto name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    if (!std::filesystem::exists(e.path() / "trainer_state.json")) continue;  // incomplete
    long long step = std::atoll(name.c_str() + 11);
    if (step > best_step) best_step = step, best = e.path();
  }
  return best;
}

namespace {
// Deleting is not atomic either: rename out of the checkpoint-* namespace first, so a kill in
// the middle leaves a .checkpoint-*.tmp leftover (removed at the next start), never a
// checkpoint-* directory with files missing.
void remove_checkpoint_dir(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return;
  auto doomed = dir.parent_path() / ("." + dir.filename().string() + ".deleting.tmp");
  std::filesystem::remove_all(doomed);
  std::filesystem::rename(dir, doomed);
  io::sync_directory(dir.parent_path());
  std::filesystem::remove_all(doomed);
}
}  // namespace

void lm_trainer::save_checkpoint(std::int64_t step, std::int64_t epoch, std::int64_t batches_done) {
  namespace fs = std::filesystem;
  const fs::path final_dir = options_.output_dir / ("checkpoint-" + std::to_string(step));
  const fs::path tmp = options_.output_dir / (".checkpoint-" + std::to_string(step) + ".tmp");
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  io::save_safetensors(tmp / "trainable.safetensors", trainable_);
  io::named_tensors state;
  for (const auto& [name, p] : trainable_) {
    const adamw::state* s = optimizer_->state_of(p);
    if (!s) continue;
    state.emplace_back(name + ".exp_avg", s->exp_avg);
    state.emplace_back(name + ".exp_avg_sq", s->exp_avg_sq);
    state.emplace_back(name + ".step", at::tensor(static_cast<std::int64_t>(s->step.item<float>()), at::kLong));
  }
  state.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  io::save_safetensors(tmp / "optimizer.safetensors", state);
  nlohmann::json ts = {{"step", step},           {"epoch", epoch},
                       {"batches_done", batches_done}, {"seed", options_.seed},
                       {"optimizer_steps", optimizer_steps_}, {"loss_scale", scaler_.scale},
                       {"loss_scale_growth_tracker", scaler_.growth_tracker}};
  io::write_file_atomically(tmp / "trainer_state.json", ts.dump(2) + "\n");
  write_loss_curve(tmp / "loss.svg");
  for (const auto& [name, text] : options_.checkpoint_files) io::write_file_atomically(tmp / name, text);
  io::sync_directory(tmp);
  remove_checkpoint_dir(final_dir);
  fs::rename(tmp, final_dir);
  io::sync_directory(options_.output_dir);
  if (options_.save_total_limit > 0) {  // keep the newest K complete checkpoints
    std::vector<std::pair<long long, fs::path>> all;
    for (const auto& e : fs::directory_iterator(options_.output_dir)) {
      auto name = e.path().filename().string();
      if (e.is_directory() && name.rfind("checkpoint-", 0) == 0) all.emplace_back(std::atoll(name.c_str() + 11), e.path());
    }
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i + static_cast<std::size_t>(options_.save_total_limit) < all.size(); ++i)
      remove_checkpoint_dir(all[i].second);
  }
}

void lm_trainer::load_checkpoint(const std::filesystem::path& dir, std::int64_t& step, std::int64_t& epoch,
                                 std::int64_t& batches_done) {
  at::NoGradGuard no_grad;
  auto weights = io::load_safetensors(dir / "trainable.safetensors");
  for (auto& [name, p] : trainable_) {
    auto it = weights.find(name);
    if (it == weights.end()) fail("checkpoint ", dir.string(), " lacks trainable parameter ", quote(name), " (was it made by another recipe?)");
    p.copy_(it->second);
  }
  auto state = io::load_safetensors(dir / "optimizer.safetensors");
  for (auto& [name, p] : trainable_) {
    auto m = state.find(name + ".exp_avg");
    if (m == state.end()) continue;
    optimizer_->set_state(p, m->second, state.at(name + ".exp_avg_sq"), state.at(name + ".step").item<std::int64_t>());
  }
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
  generator.set_state(state.at("rng.cpu"));
  std::ifstream in(dir / "trainer_state.json");
  auto ts = nlohmann::json::parse(in);
  step = ts.at("step").get<std::int64_t>();
  epoch = ts.at("epoch").get<std::int64_t>();
  batches_done = ts.at("batches_done").get<std::int64_t>();
  optimizer_steps_ = ts.value("optimizer_steps", step);  // older checkpoints: every step was taken
  scaler_.scale = ts.value("loss_scale", scaler_.scale);
  scaler_.growth_tracker = ts.value("loss_scale_growth_tracker", std::int64_t{0});
}

std::vector<step_record> lm_trainer::run(const batch_source& samples, const batch_source& eval) {
  namespace fs = std::filesystem;
  if (samples.size == 0) fail("no training samples");
  fs::create_directories(options_.output_dir);
  // the sampler fixes each epoch's micro-batches from the seed and the epoch number
  const data::sampler_options sampling{.kind = options_.sampler, .batch_size = static_cast<std::size_t>(options_.batch_size),
                                       .seed = options_.seed};
  const data::sample_info info{samples.lengths, samples.text_only, samples.size};
  const auto micro_per_epoch = static_cast<std::int64_t>(data::epoch_batches(info, sampling, 0).size());
  const std::int64_t steps_per_epoch = (micro_per_epoch + options_.grad_accum - 1) / options_.grad_accum;
  const std::int64_t total = options_.max_steps > 0 ? options_.max_steps : options_.epochs * steps_per_epoch;
  const auto warmup = static_cast<std::int64_t>(std::ceil(options_.warmup_ratio * static_cast<double>(total)));

  std::int64_t step = 0, epoch = 0, batches_done = 0;
  // a run starts from the options (a second run() on this trainer too); resume overwrites both
  optimizer_steps_ = 0;
  scaler_ = loss_scaler{};
  scaler_.scale = options_.initial_loss_scale;
  at::manual_seed(options_.seed);
  for (const auto& e : fs::directory_iterator(options_.output_dir))  // leftovers of a killed save
    if (e.path().filename().string().rfind(".checkpoint-", 0) == 0) fs::remove_all(e.path());
  const fs::path log_path = options_.output_dir / "log.jsonl";
  if (options_.resume) {
    auto ck = latest_checkpoint(options_.output_dir);
    if (!ck.empty()) {
      load_checkpoint(ck, step, epoch, batches_done);
      // keep the log up to the checkpoint: later lines belong to the lost part of the run
      std::ifstream in(log_path);
      std::string line, kept;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line);
        if (j.at("step").get<std::int64_t>() > step) continue;
        kept += line + "\n";
        if (j.contains("eval_loss")) eval_curve_.emplace_back(j["step"].get<double>(), j["eval_loss"].get<double>());
        else train_curve_.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
      }
      io::write_file_atomically(log_path, kept);
      if (options_.progress) std::printf("resuming from %s (step %lld)\n", ck.c_str(), static_cast<long long>(step));
    }
  } else {
    std::error_code ec;
    fs::remove(log_path, ec);
  }
  std::ofstream log(log_path, std::ios::app);

  // the micro-batches of every epoch in order, built ahead on a background thread from where a
  // resumed run stands
  std::int64_t built_epoch = -1;
  std::vector<std::vector<std::size_t>> built_batches;
  data::prefetcher<lm_batch> ahead(
      [&, micro_per_epoch](std::size_t k) {  // runs on the prefetch thread (alone)
        const auto e = static_cast<std::int64_t>(k) / micro_per_epoch;
        if (e != built_epoch) built_batches = data::epoch_batches(info, sampling, built_epoch = e);
        return samples.collate(built_batches[static_cast<std::size_t>(static_cast<std::int64_t>(k) % micro_per_epoch)]);
      },
      static_cast<std::size_t>(epoch * micro_per_epoch + batches_done), options_.prefetch);
  std::vector<step_record> records;
  model_->train();
  const bool terminal = isatty(fileno(stdout)) != 0;
  const auto start = std::chrono::steady_clock::now();
  std::int64_t tokens_seen = 0;

  while (step < total) {
    // the step's time (and tokens/s) includes waiting for its batches
    const auto t0 = std::chrono::steady_clock::now();
    // gather this step's micro-batches (fewer at the end of an epoch)
    std::vector<lm_batch> micro;
    for (int a = 0; a < options_.grad_accum; ++a) {
      if (batches_done == micro_per_epoch) {
        if (!micro.empty()) break;  // the epoch's last step takes what is left
        ++epoch;
        batches_done = 0;
      }
      micro.push_back(ahead.next());
      ++batches_done;
    }
    std::int64_t label_tokens = 0, real_tokens = 0;
    for (const auto& b : micro) label_tokens += b.label_tokens, real_tokens += b.real_tokens;
    const bool fp16 = options_.precision == nn::precision::fp16;
    const double loss_scale = scaler_.scale;  // fp16: the loss is scaled so small gradients survive
    double loss_sum = 0;
    for (const auto& b : micro) {
      at::Tensor sum = summed_loss(b);
      at::Tensor mean = sum / static_cast<double>(std::max<std::int64_t>(1, label_tokens));
      (fp16 ? mean * loss_scale : mean).backward();
      loss_sum += sum.item<double>();
    }
    std::vector<at::Tensor> params;
    for (auto& [name, p] : trainable_) params.push_back(p);
    if (fp16) scaler_.unscale(params);
    const double grad_norm = clip_grad_norm(params, options_.max_grad_norm);
    // as Trainer: a step with non-finite gradients is skipped (and the scale backs off); the
    // schedule advances with the steps taken
    const bool skipped = fp16 && !std::isfinite(grad_norm);
    const double lr = options_.lr * lr_factor(options_.schedule, optimizer_steps_, total, warmup);
    if (!skipped) {
      optimizer_->step(lr);
      ++optimizer_steps_;
    }
    optimizer_->zero_grad();
    if (fp16) scaler_.update(skipped);
    ++step;

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens_seen += real_tokens;
    step_record r{step, static_cast<double>(epoch) + static_cast<double>(batches_done) / static_cast<double>(micro_per_epoch),
                  loss_sum / static_cast<double>(std::max<std::int64_t>(1, label_tokens)), lr, grad_norm,
                  static_cast<double>(real_tokens) / std::max(seconds, 1e-9)};
    records.push_back(r);
    nlohmann::json line = {{"step", r.step}, {"epoch", r.epoch}, {"loss", r.loss}, {"lr", r.lr},
                           {"grad_norm", r.grad_norm}, {"tokens", real_tokens}, {"tokens_per_second", r.tokens_per_second}};
    if (fp16) line["loss_scale"] = loss_scale;
    if (skipped) line["skipped"] = true;
    log << line.dump() << "\n" << std::flush;
    train_curve_.emplace_back(static_cast<double>(step), r.loss);
    if (options_.progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = elapsed / static_cast<double>(records.size()) * static_cast<double>(total - step);
      if (terminal) {  // one line redrawn in place, with a bar
        const int width = 24, done = static_cast<int>(width * step / std::max<std::int64_t>(1, total));
        std::printf("\r[%s%s] step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s  eta %.0fs \x1b[K",
                    std::string(static_cast<std::size_t>(done), '#').c_str(),
                    std::string(static_cast<std::size_t>(width - done), '.').c_str(), static_cast<long long>(step),
                    static_cast<long long>(total), r.loss, r.lr, r.grad_norm, r.tokens_per_second, eta);
        if (step == total) std::printf("\n");
      } else if (step % std::max(1, options_.log_every) == 0 || step == total || step == 1) {
        std::printf("step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s  elapsed %.1fs  eta %.1fs\n",
                    static_cast<long long>(step), static_cast<long long>(total), r.loss, r.lr, r.grad_norm,
                    r.tokens_per_second, elapsed, eta);
      }
      std::fflush(stdout);
    }
    if (eval.size > 0 && ((options_.eval_steps > 0 && step % options_.eval_steps == 0) || step == total)) {
      const double eval_loss = evaluate(eval);
      eval_curve_.emplace_back(static_cast<double>(step), eval_loss);
      log << nlohmann::json{{"step", step}, {"eval_loss", eval_loss}}.dump() << "\n" << std::flush;
      if (options_.progress)
        std::printf("%sstep %lld  eval_loss %.4f\n", terminal && step != total ? "\n" : "", static_cast<long long>(step), eval_loss);
    }
    if ((options_.save_steps > 0 && step % options_.save_steps == 0) || step == total)
      save_checkpoint(step, epoch, batches_done);
  }
  write_loss_curve(options_.output_dir / "loss.svg");
  return records;
}

}  // namespace lmms::training
