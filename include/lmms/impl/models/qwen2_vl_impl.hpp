// Implementation of lmms/models/qwen2_vl/qwen2_vl.hpp (LMMS_IMPLEMENTATION only). Mirrors
// transformers' modeling_qwen2_vl.py (vision tower with per-group sdpa, get_rope_index,
// masked_scatter of image and video features) so that results agree within float32 rounding.
#pragma once

#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/models/checkpoint_layout.hpp"
#include "lmms/models/qwen2_vl/qwen2_vl.hpp"
#include "lmms/nn/checkpoint.hpp"

namespace lmms::qwen2vl {

qwen2_vl_config qwen2_vl_config::from_hf(const io::hf_config& c) {
  const std::string type = c.get_string_or("model_type", "");
  if (type != "qwen2_vl" && type != "qwen2_5_vl")
    fail(c.source(), ": model_type ", quote(type), " is not Qwen2-VL or Qwen2.5-VL (qwen2_vl, qwen2_5_vl)");
  qwen2_vl_config q;
  // transformers 5 writes text_config; hub checkpoints keep the text fields at the top level
  q.text = lm::decoder_config::from_hf(c.section_if("text_config").value_or(c));
  q.text.tie_word_embeddings = c.get_bool_or("tie_word_embeddings", q.text.tie_word_embeddings);
  if (q.text.mrope_section.empty())
    fail(c.source(), ": the text config has no mrope_section (rope_parameters or rope_scaling); ", type, " needs M-RoPE");
  io::hf_config vc = c.section("vision_config");
  vision_config& v = q.vision;
  v.qwen2_5 = type == "qwen2_5_vl";
  v.depth = vc.get_int("depth");
  v.num_heads = vc.get_int("num_heads");
  if (v.qwen2_5) {  // Qwen2_5_VLVisionConfig: hidden_size is the tower's width, out_hidden_size the LLM's
    v.embed_dim = vc.get_int("hidden_size");
    v.out_hidden = vc.get_int("out_hidden_size");
    v.mlp_hidden = vc.get_int("intermediate_size");
    v.hidden_act = vc.get_string_or("hidden_act", "silu");
    v.window_size = vc.get_int_or("window_size", 112);
    v.full_attention_blocks = vc.get_int_list("fullatt_block_indexes");
    v.tokens_per_second = vc.get_double_or("tokens_per_second", 2.0);
  } else {
    v.embed_dim = vc.get_int("embed_dim");
    v.mlp_hidden = static_cast<std::int64_t>(static_cast<double>(v.embed_dim) * vc.get_double_or("mlp_ratio", 4.0));
    v.out_hidden = vc.get_int_or("hidden_size", q.text.hidden_size);
    v.hidden_act = vc.get_string_or("hidden_act", "quick_gelu");
  }
  if (v.out_hidden != q.text.hidden_size)
    fail(c.source(), ": the vision tower's output size ", v.out_hidden, " differs from the language model's ", q.text.hidden_size);
  v.in_channels = vc.get_int_or("in_channels", vc.get_int_or("in_chans", 3));
  v.patch_size = vc.get_int_or("patch_size", 14);
  v.temporal_patch_size = vc.get_int_or("temporal_patch_size", 2);
  v.merge_size = vc.get_int_or("spatial_merge_size", 2);
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu" && v.hidden_act != "silu")
    fail(c.source(), ": vision_config.hidden_act ", quote(v.hidden_act), " is not implemented (quick_gelu, gelu, silu)");
  if (auto rp = vc.section_if("rope_parameters")) v.rope_theta = rp->get_double_or("rope_theta", 10000.0);
  if (v.embed_dim % v.num_heads != 0 || v.head_dim() % 4 != 0)
    fail(c.source(), ": vision embed_dim / num_heads must be a multiple of 4 (2D rotary)");
  if (v.qwen2_5 && (v.window_size % (v.patch_size * v.merge_size) != 0 || v.window_size <= 0))
    fail(c.source(), ": vision_config.window_size ", v.window_size, " must be a positive multiple of patch_size x spatial_merge_size");
  q.image_token_id = c.get_int_or("image_token_id", 151655);
  q.video_token_id = c.get_int_or("video_token_id", 151656);
  q.vision_start_token_id = c.get_int_or("vision_start_token_id", 151652);
  return q;
}

// ---- vision tower ---------------------------------------------------------------------------
namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}

/// Row and column of each patch in the order of pixel_values: merge x merge blocks, row-major
/// over blocks, repeated for each temporal group (transformers' get_vision_position_ids).
at::Tensor patch_positions(const at::Tensor& grid_thw, std::int64_t merge) {
  std::vector<at::Tensor> rows;
  auto g = grid_thw.to(at::kLong).contiguous();
  for (std::int64_t i = 0; i < g.size(0); ++i) {
    const std::int64_t t = g[i][0].item<std::int64_t>(), h = g[i][1].item<std::int64_t>(), w = g[i][2].item<std::int64_t>();
    at::Tensor hpos = at::arange(h, at::kLong).unsqueeze(1).expand({h, w});
    at::Tensor wpos = at::arange(w, at::kLong).unsqueeze(0).expand({h, w});
    auto blocks = [&](const at::Tensor& p) {
      return p.reshape({h / merge, merge, w / merge, merge}).transpose(1, 2).flatten();
    };
    rows.push_back(at::stack({blocks(hpos), blocks(wpos)}, -1).repeat({t, 1}));
  }
  return at::cat(rows, 0);
}

at::Tensor activation(const at::Tensor& h, const std::string& act) {
  if (act == "quick_gelu") return h * at::sigmoid(1.702 * h);
  if (act == "silu") return at::silu(h);
  return at::gelu(h);
}

/// Qwen2.5-VL's window attention (transformers' get_vision_window_index): merged units
/// (merge x merge patches) regrouped window by window, windows of window_size / patch / merge
/// units a side, row-major per frame; returns the new order of the units and the patches per
/// window (empty windows left out).
std::pair<at::Tensor, std::vector<std::int64_t>> window_order(const at::Tensor& grid_thw, const vision_config& c) {
  const std::int64_t side = c.window_size / c.merge_size / c.patch_size, unit = c.merge_size * c.merge_size;
  std::vector<std::int64_t> order, lengths;
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < grid_thw.size(0); ++i) {
    const std::int64_t t = grid_thw[i][0].item<std::int64_t>(), lh = grid_thw[i][1].item<std::int64_t>() / c.merge_size,
                       lw = grid_thw[i][2].item<std::int64_t>() / c.merge_size;
    for (std::int64_t f = 0; f < t; ++f)
      for (std::int64_t wy = 0; wy * side < lh; ++wy)
        for (std::int64_t wx = 0; wx * side < lw; ++wx) {
          std::int64_t n = 0;
          for (std::int64_t y = wy * side; y < std::min(lh, (wy + 1) * side); ++y)
            for (std::int64_t x = wx * side; x < std::min(lw, (wx + 1) * side); ++x, ++n)
              order.push_back(offset + (f * lh + y) * lw + x);
          lengths.push_back(n * unit);
        }
    offset += t * lh * lw;
  }
  return {at::tensor(order, at::kLong), lengths};
}

/// Reorders rows grouped in units of `unit` consecutive rows.
at::Tensor permute_units(const at::Tensor& x, const at::Tensor& order, std::int64_t unit) {
  return x.reshape({x.size(0) / unit, unit, -1}).index_select(0, order).reshape({x.size(0), -1});
}
}  // namespace

vision_norm_impl::vision_norm_impl(std::int64_t dim, bool rms) : dim_(dim), rms_(rms) {
  weight = register_parameter("weight", at::ones({dim}));
  if (!rms) bias = register_parameter("bias", at::zeros({dim}));
}

at::Tensor vision_norm_impl::forward(const at::Tensor& x) {
  if (!rms_) return at::layer_norm(x, {dim_}, weight, bias, 1e-6);
  // Qwen2_5_VLRMSNorm: in float32, back to the input dtype before the weight
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + 1e-6);
  return weight * h.to(x.scalar_type());
}

vision_attention_impl::vision_attention_impl(const vision_config& c) : heads_(c.num_heads), head_dim_(c.head_dim()) {
  qkv = register_module("qkv", nn::linear(c.embed_dim, 3 * c.embed_dim, true));
  proj = register_module("proj", nn::linear(c.embed_dim, c.embed_dim, true));
}

at::Tensor vision_attention_impl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                          const std::vector<std::int64_t>& lengths) {
  const std::int64_t N = x.size(0);
  auto parts = qkv->forward(x).reshape({N, 3, heads_, head_dim_}).permute({1, 0, 2, 3}).unbind(0);
  // apply_rotary_pos_emb_vision: in float32, back to the input dtype
  const auto dtype = parts[0].scalar_type();
  at::Tensor c = cos.unsqueeze(-2), s = sin.unsqueeze(-2);
  at::Tensor q = parts[0].to(at::kFloat), k = parts[1].to(at::kFloat);
  q = (q * c + rotate_half(q) * s).to(dtype);
  k = (k * c + rotate_half(k) * s).to(dtype);
  at::Tensor v = parts[2];
  q = q.transpose(0, 1).unsqueeze(0), k = k.transpose(0, 1).unsqueeze(0), v = v.transpose(0, 1).unsqueeze(0);
  // attention inside each image / frame group, as transformers' sdpa path splits by cu_seqlens
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  auto qs = q.split_with_sizes(lengths, 2), ks = k.split_with_sizes(lengths, 2), vs = v.split_with_sizes(lengths, 2);
  std::vector<at::Tensor> outs;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    outs.push_back(at::scaled_dot_product_attention(qs[i], ks[i], vs[i], std::nullopt, 0.0, false, scale).transpose(1, 2));
  at::Tensor out = at::cat(outs, 1).reshape({N, -1});
  return proj->forward(out);
}

vision_mlp_impl::vision_mlp_impl(std::int64_t dim, std::int64_t hidden, std::string act, bool gated) : act_(std::move(act)) {
  if (gated) {
    gate_proj = register_module("gate_proj", nn::linear(dim, hidden, true));
    up_proj = register_module("up_proj", nn::linear(dim, hidden, true));
    down_proj = register_module("down_proj", nn::linear(hidden, dim, true));
  } else {
    fc1 = register_module("fc1", nn::linear(dim, hidden, true));
    fc2 = register_module("fc2", nn::linear(hidden, dim, true));
  }
}

at::Tensor vision_mlp_impl::forward(const at::Tensor& x) {
  if (gate_proj) return down_proj->forward(activation(gate_proj->forward(x), act_) * up_proj->forward(x));
  return fc2->forward(activation(fc1->forward(x), act_));
}

vision_block_impl::vision_block_impl(const vision_config& c) {
  norm1 = register_module("norm1", vision_norm(c.embed_dim, c.qwen2_5));
  norm2 = register_module("norm2", vision_norm(c.embed_dim, c.qwen2_5));
  attn = register_module("attn", vision_attention(c));
  mlp = register_module("mlp", vision_mlp(c.embed_dim, c.mlp_hidden, c.hidden_act, c.qwen2_5));
}

at::Tensor vision_block_impl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                      const std::vector<std::int64_t>& lengths) {
  at::Tensor h = x + attn->forward(norm1->forward(x), cos, sin, lengths);
  return h + mlp->forward(norm2->forward(h));
}

patch_merger_impl::patch_merger_impl(const vision_config& c) : merged_dim_(c.embed_dim * c.merge_size * c.merge_size) {
  ln_q = register_module("ln_q", vision_norm(c.embed_dim, c.qwen2_5));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  mlp_0 = mlp->register_module("0", nn::linear(merged_dim_, merged_dim_, true));
  mlp_2 = mlp->register_module("2", nn::linear(merged_dim_, c.out_hidden, true));
}

at::Tensor patch_merger_impl::forward(const at::Tensor& x) {
  return mlp_2->forward(at::gelu(mlp_0->forward(ln_q->forward(x).reshape({-1, merged_dim_}))));
}

vision_transformer_impl::vision_transformer_impl(const vision_config& c) : config(c) {
  struct holder_impl : torch::nn::Module {
    explicit holder_impl(at::Tensor w) { weight = register_parameter("weight", std::move(w)); }
    at::Tensor weight;
  };
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
  auto proj = patch_embed->register_module(
      "proj", std::make_shared<holder_impl>(at::randn({c.embed_dim, c.in_channels, c.temporal_patch_size, c.patch_size,
                                                        c.patch_size}) * 0.02));
  patch_embed_weight = proj->weight;
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.depth; ++i) blocks->push_back(vision_block(c));
  merger = register_module("merger", patch_merger(c));
}

at::Tensor vision_transformer_impl::forward(const at::Tensor& pixel_values, const at::Tensor& grid_thw) {
  const vision_config& c = config;
  if (pixel_values.dim() != 2 || pixel_values.size(1) != c.patch_values())
    fail("pixel_values must be (patches, ", c.patch_values(), ") for this vision tower; got ", pixel_values.sizes());
  auto g = grid_thw.to(at::kLong).contiguous();
  std::vector<std::int64_t> lengths;  // one attention group per image and per video frame group
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < g.size(0); ++i) {
    const std::int64_t t = g[i][0].item<std::int64_t>(), hw = g[i][1].item<std::int64_t>() * g[i][2].item<std::int64_t>();
    if (g[i][1].item<std::int64_t>() % c.merge_size || g[i][2].item<std::int64_t>() % c.merge_size)
      fail("grid_thw row ", i, " is not a multiple of the merge size ", c.merge_size);
    for (std::int64_t k = 0; k < t; ++k) lengths.push_back(hw);
    total += t * hw;
  }
  if (total != pixel_values.size(0))
    fail("grid_thw describes ", total, " patches but pixel_values has ", pixel_values.size(0));
  // PatchEmbed's Conv3d with stride = kernel over one patch each is a matmul with the flat kernel
  at::Tensor w = patch_embed_weight;
  at::Tensor h = at::linear(pixel_values.to(w.scalar_type()), w.reshape({c.embed_dim, -1}));
  // 2D rotary: head_dim / 4 frequencies, angles for the row then the column, doubled
  const std::int64_t spatial = c.head_dim() / 2;
  at::Tensor inv_freq =
      1.0 / at::pow(c.rope_theta, at::arange(0, spatial, 2, at::kLong).to(at::kFloat) / static_cast<double>(spatial));
  at::Tensor pos = patch_positions(g, c.merge_size).to(at::kFloat);      // (N, 2)
  at::Tensor freqs = (pos.unsqueeze(-1) * inv_freq).flatten(1);          // (N, head_dim / 2): rows, columns
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();
  // Qwen2.5-VL: patches regrouped window by window (each image's and frame's stay in its own
  // range, so the per-frame lengths still hold for the full-attention blocks)
  at::Tensor order;
  std::vector<std::int64_t> window_lengths;
  const std::int64_t unit = c.merge_size * c.merge_size;
  if (c.qwen2_5) {
    std::tie(order, window_lengths) = window_order(g, c);
    h = permute_units(h, order, unit);
    cos = permute_units(cos, order, unit);
    sin = permute_units(sin, order, unit);
  }
  std::int64_t index = 0;
  for (const auto& block : *blocks) {
    auto* b = block->as<vision_block_impl>();
    const bool full = !c.qwen2_5 || std::find(c.full_attention_blocks.begin(), c.full_attention_blocks.end(), index) !=
                                        c.full_attention_blocks.end();
    const std::vector<std::int64_t>& groups = full ? lengths : window_lengths;
    ++index;
    if (gradient_checkpointing && is_training())
      h = nn::checkpoint([b, cos, sin, groups](const at::Tensor& x) { return b->forward(x, cos, sin, groups); }, h);
    else
      h = b->forward(h, cos, sin, groups);
  }
  at::Tensor merged = merger->forward(h);
  return c.qwen2_5 ? merged.index_select(0, at::argsort(order)) : merged;
}

// ---- M-RoPE positions -----------------------------------------------------------------------
std::pair<at::Tensor, at::Tensor> rope_index(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const at::Tensor& image_grid_thw, const at::Tensor& video_grid_thw,
                                             const qwen2_vl_config& config, const at::Tensor& second_per_grid_ts) {
  const std::int64_t B = input_ids.size(0), T = input_ids.size(1), merge = config.vision.merge_size;
  auto ids = input_ids.to(at::kLong).contiguous();
  at::Tensor mask = attention_mask.defined() ? attention_mask.to(at::kLong).contiguous() : at::ones({B, T}, at::kLong);
  auto grids = [](const at::Tensor& g) {
    std::vector<std::array<std::int64_t, 3>> out;
    if (!g.defined()) return out;
    auto c = g.to(at::kLong).contiguous();
    for (std::int64_t i = 0; i < c.size(0); ++i) out.push_back({c[i][0].item<std::int64_t>(), c[i][1].item<std::int64_t>(), c[i][2].item<std::int64_t>()});
    return out;
  };
  const auto images = grids(image_grid_thw), videos = grids(video_grid_thw);
  std::vector<double> seconds;  // per video (Qwen2.5-VL), 1 when not given, as transformers
  if (second_per_grid_ts.defined())
    for (std::int64_t i = 0; i < second_per_grid_ts.numel(); ++i) seconds.push_back(second_per_grid_ts[i].item<double>());
  std::size_t next_image = 0, next_video = 0, next_seconds = 0;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(3 * B * T), 0), deltas;
  const std::int64_t* id = ids.data_ptr<std::int64_t>();
  const std::int64_t* m = mask.data_ptr<std::int64_t>();
  auto at3 = [&](int axis, std::int64_t b, std::int64_t t) -> std::int64_t& {
    return pos[static_cast<std::size_t>((axis * B + b) * T + t)];
  };
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> real;  // the unpadded positions of this row
    for (std::int64_t t = 0; t < T; ++t)
      if (m[b * T + t]) real.push_back(t);
    std::int64_t current = 0, max_pos = -1, segment = m[b * T + (real.empty() ? 0 : real[0])];
    for (std::size_t i = 0; i < real.size();) {
      if (m[b * T + real[i]] != segment) {  // packed: the next sample starts over at 0
        segment = m[b * T + real[i]];
        current = 0;
      }
      const std::int64_t token = id[b * T + real[i]];
      const bool image = token == config.image_token_id, video = token == config.video_token_id;
      if (!image && !video) {
        for (int a = 0; a < 3; ++a) at3(a, b, real[i]) = current;
        max_pos = std::max(max_pos, current);
        ++current;
        ++i;
        continue;
      }
      // a run of media tokens of one kind: one image or video (its grid says how many tokens)
      const auto& list = image ? images : videos;
      std::size_t& next = image ? next_image : next_video;
      if (next >= list.size())
        fail("the batch has more ", image ? "image" : "video", " spans than ", image ? "image_grid_thw" : "video_grid_thw",
             " rows (", list.size(), ")");
      const auto [gt, gh, gw] = list[next++];
      const std::int64_t lh = gh / merge, lw = gw / merge, n = gt * lh * lw;
      // Qwen2.5-VL videos: temporal ids (t * tokens_per_second * seconds per step), truncated
      float interval = 1.0f;  // float32 products, as transformers' tensors compute them
      if (video && config.vision.qwen2_5) {
        const double sec = next_seconds < seconds.size() ? seconds[next_seconds] : 1.0;
        ++next_seconds;
        interval = static_cast<float>(config.vision.tokens_per_second) * static_cast<float>(sec);
      }
      if (i + static_cast<std::size_t>(n) > real.size())
        fail("a ", image ? "image" : "video", " span has fewer pad tokens than its grid's ", n);
      std::size_t k = i;
      for (std::int64_t tt = 0; tt < gt; ++tt)
        for (std::int64_t hh = 0; hh < lh; ++hh)
          for (std::int64_t ww = 0; ww < lw; ++ww, ++k) {
            const auto time = static_cast<std::int64_t>(static_cast<float>(tt) * interval);
            at3(0, b, real[k]) = current + time;
            at3(1, b, real[k]) = current + hh;
            at3(2, b, real[k]) = current + ww;
            max_pos = std::max({max_pos, current + time, current + hh, current + ww});
          }
      i = k;
      current += std::max(gh, gw) / merge;
    }
    deltas.push_back(max_pos + 1 - static_cast<std::int64_t>(real.size()));
  }
  at::Tensor position_ids = at::tensor(pos, at::kLong).reshape({3, B, T});
  return {position_ids, at::tensor(deltas, at::kLong).unsqueeze(1)};
}

// ---- the model --------------------------------------------------------------------------------
qwen2_vl_model_impl::qwen2_vl_model_impl(const qwen2_vl_config& c) : config(c) {
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  visual = model->register_module("visual", vision_transformer(c.vision));
  language_model = model->register_module("language_model", lm::decoder_model(c.text));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor qwen2_vl_model_impl::input_embeddings(const inputs& in) {
  at::Tensor embeds = language_model->embed(in.input_ids);
  const std::int64_t merge2 = config.vision.merge_size * config.vision.merge_size;
  auto scatter = [&](const at::Tensor& pixels, const at::Tensor& grid, std::int64_t token, const char* what) {
    at::Tensor is_media = in.input_ids == token;
    const std::int64_t tokens = is_media.sum().item<std::int64_t>();
    const std::int64_t features = pixels.defined() ? pixels.size(0) / merge2 : 0;
    if (tokens != features)
      fail("the batch has ", tokens, " ", what, " pad tokens but its ", what, "s give ", features,
           " features (the collator must expand each placeholder to grid t*h*w / ", merge2,
           " tokens and never truncate inside one)");
    if (features == 0) return;
    at::Tensor f = visual->forward(pixels, grid).to(embeds.scalar_type());
    embeds = embeds.masked_scatter(is_media.unsqueeze(-1).expand_as(embeds), f);
  };
  scatter(in.pixel_values, in.image_grid_thw, config.image_token_id, "image");
  scatter(in.pixel_values_videos, in.video_grid_thw, config.video_token_id, "video");
  return embeds;
}

at::Tensor qwen2_vl_model_impl::hidden_states(const inputs& in) {
  at::Tensor embeds = input_embeddings(in);
  at::Tensor positions;
  if (in.image_grid_thw.defined() || in.video_grid_thw.defined())  // restarting per sample when packed
    positions = rope_index(in.input_ids, in.attention_mask, in.image_grid_thw, in.video_grid_thw, config,
                           in.second_per_grid_ts).first;
  else  // text only: transformers counts 0..T-1 (padding included); packed rows restart per sample
    positions = lm::packed_position_ids(in.attention_mask, in.input_ids.size(0), in.input_ids.size(1));
  return language_model->forward_embeds(embeds, positions, in.attention_mask);
}

at::Tensor qwen2_vl_model_impl::forward(const inputs& in) { return logits_from_hidden(hidden_states(in)); }

at::Tensor qwen2_vl_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, language_model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

std::pair<at::Tensor, infer::decoder_steps> generation_steps(qwen2_vl_model model, const inputs& prompt) {
  at::Tensor embeds = model->input_embeddings(prompt);
  auto [positions, deltas] = rope_index(prompt.input_ids, prompt.attention_mask, prompt.image_grid_thw,
                                        prompt.video_grid_thw, model->config, prompt.second_per_grid_ts);
  infer::decoder_steps s;
  s.embed = [model](const at::Tensor& ids) mutable { return model->language_model->embed(ids); };
  s.last_logits = [model, positions, deltas](const at::Tensor& embeds, lm::kv_cache& cache, const at::Tensor& mask,
                                             const at::Tensor& text_positions) mutable {
    const std::int64_t past = cache.length();
    at::Tensor pos;
    if (past == 0)
      pos = positions;  // the prompt
    else if (text_positions.defined())
      pos = text_positions + deltas;  // (B, T): mask-derived text positions, shifted per row
    else
      pos = at::arange(past, past + embeds.size(1), at::kLong).unsqueeze(0) + deltas;
    at::Tensor hidden = model->language_model->forward_embeds(embeds, pos, mask, &cache);
    return model->logits_from_hidden(hidden.select(1, hidden.size(1) - 1));
  };
  return {embeds, s};
}

void load_weights(qwen2_vl_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint, models::checkpoint_names(checkpoint));
}

}  // namespace lmms::qwen2vl
