// Implementation of lmms/models/qwen_vl/qwen_vl.hpp (LMMS_IMPLEMENTATION only). Follows the
// equations of the checkpoint's visual.py (VisionTransformer, Resampler, get_abs_pos) and
// modeling_qwen.py (QWenModel, which lm::decoder_model implements with Qwen's names).
#pragma once

#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/models/qwen_vl/qwen_vl.hpp"
#include "lmms/nn/checkpoint.hpp"

namespace lmms::qwen_vl {

qwen_vl_config qwen_vl_config::from_hf(const io::hf_config& c) {
  const std::string type = c.get_string_or("model_type", "");
  if (type != "qwen") fail(c.source(), ": model_type ", quote(type), " is not Qwen-VL-Chat's (qwen)");
  auto v = c.section_if("visual");
  if (!v) fail(c.source(), ": no \"visual\" section: a Qwen text model, not Qwen-VL-Chat");
  qwen_vl_config q;
  q.text = lm::decoder_config::from_hf(c);
  visual_config& vc = q.visual;
  vc.image_size = v->get_int("image_size");
  vc.patch_size = v->get_int("patch_size");
  vc.width = v->get_int("width");
  vc.layers = v->get_int("layers");
  vc.heads = v->get_int("heads");
  vc.mlp_ratio = v->get_double("mlp_ratio");
  vc.n_queries = v->get_int_or("n_queries", 256);  // the hub config has none: the tower's default
  vc.output_dim = v->get_int("output_dim");
  vc.image_start_id = v->get_int("image_start_id");
  const auto side = static_cast<std::int64_t>(std::sqrt(static_cast<double>(vc.n_queries)));
  if (side * side != vc.n_queries) fail(c.source(), ": visual.n_queries ", vc.n_queries, " is not a square (the 2D sin-cos grid)");
  if (vc.image_size % vc.patch_size != 0)
    fail(c.source(), ": visual.image_size ", vc.image_size, " is not a multiple of patch_size ", vc.patch_size);
  if (vc.width % vc.heads != 0) fail(c.source(), ": visual.width ", vc.width, " is not a multiple of heads ", vc.heads);
  if (vc.output_dim % 128 != 0 || vc.output_dim != q.text.hidden_size)
    fail(c.source(), ": visual.output_dim ", vc.output_dim, " must be the LLM's hidden_size (", q.text.hidden_size,
         ") and a multiple of 128 (the resampler has output_dim / 128 heads)");
  if (vc.image_start_id + 2 >= q.text.vocab_size)
    fail(c.source(), ": visual.image_start_id ", vc.image_start_id, " leaves no room for </img> and <imgpad> in vocab_size ",
         q.text.vocab_size);
  q.seq_length = c.get_int_or("seq_length", 2048);
  q.long_context_scaling = c.get_bool_or("use_dynamic_ntk", true) || c.get_bool_or("use_logn_attn", true);
  return q;
}

at::Tensor resized_positions(const at::Tensor& table, std::int64_t tokens) {
  const auto src = static_cast<std::int64_t>(std::sqrt(static_cast<double>(table.size(0))));
  const auto tgt = static_cast<std::int64_t>(std::sqrt(static_cast<double>(tokens)));
  if (src * src != table.size(0) || tgt * tgt != tokens)
    fail("position tables resize between square grids; got ", table.size(0), " and ", tokens, " positions");
  if (src == tgt) return table;
  at::Tensor grid = table.to(at::kFloat).reshape({1, src, src, -1}).permute({0, 3, 1, 2});
  at::Tensor out = at::upsample_bicubic2d(grid, {tgt, tgt}, false);
  return out.permute({0, 2, 3, 1}).flatten(0, 2).to(table.scalar_type());
}

visual_attention_impl::visual_attention_impl(std::int64_t width, std::int64_t heads)
    : heads_(heads), head_dim_(width / heads) {
  in_proj = register_module("in_proj", nn::linear(width, 3 * width, true));
  out_proj = register_module("out_proj", nn::linear(width, width, true));
}

at::Tensor visual_attention_impl::forward(const at::Tensor& x) {
  const auto N = x.size(0), L = x.size(1), W = x.size(2);
  // per head [q | k | v], then (N, heads, L, head_dim)
  auto parts = in_proj->forward(x).view({N, L, heads_, 3 * head_dim_}).split(head_dim_, -1);
  at::Tensor q = parts[0].transpose(1, 2), k = parts[1].transpose(1, 2), v = parts[2].transpose(1, 2);
  at::Tensor scores = at::matmul(q / std::sqrt(static_cast<double>(head_dim_)), k.transpose(-2, -1));
  at::Tensor out = at::matmul(scores.softmax(-1), v);
  return out_proj->forward(out.transpose(1, 2).reshape({N, L, W}));
}

visual_block_impl::visual_block_impl(const visual_config& c) {
  ln_1 = register_module("ln_1", nn::layer_norm(c.width, 1e-6));
  ln_2 = register_module("ln_2", nn::layer_norm(c.width, 1e-6));
  attn = register_module("attn", visual_attention(c.width, c.heads));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  c_fc = mlp->register_module("c_fc", nn::linear(c.width, c.mlp_width(), true));
  c_proj = mlp->register_module("c_proj", nn::linear(c.mlp_width(), c.width, true));
}

at::Tensor visual_block_impl::forward(const at::Tensor& x) {
  at::Tensor h = x + attn->forward(ln_1->forward(x));
  return h + c_proj->forward(at::gelu(c_fc->forward(ln_2->forward(h))));
}

resampler_impl::resampler_impl(const visual_config& c) : heads_(c.output_dim / 128) {
  const std::int64_t E = c.output_dim;
  // the checkpoint holds both; pos_embed is the sin-cos table, a parameter that never trains
  pos_embed = register_parameter("pos_embed", at::zeros({c.n_queries, E}), false);
  query = register_parameter("query", at::randn({c.n_queries, E}) * 0.02);
  if (c.width != E) kv_proj = register_module("kv_proj", nn::linear(c.width, E, false));
  auto attn = register_module("attn", std::make_shared<torch::nn::Module>());
  in_proj_weight = attn->register_parameter("in_proj_weight", at::randn({3 * E, E}) * 0.02);
  in_proj_bias = attn->register_parameter("in_proj_bias", at::zeros({3 * E}));
  out_proj = attn->register_module("out_proj", nn::linear(E, E, true));
  ln_q = register_module("ln_q", nn::layer_norm(E, 1e-6));
  ln_kv = register_module("ln_kv", nn::layer_norm(E, 1e-6));
}

at::Tensor resampler_impl::forward(const at::Tensor& x) {
  const std::int64_t N = x.size(0), L = x.size(1), E = query.size(1), Q = query.size(0), hd = E / heads_;
  at::Tensor pos = resized_positions(pos_embed, L);
  at::Tensor kv = ln_kv->forward(kv_proj ? kv_proj->forward(x) : x);  // (N, L, E)
  // the queries carry the table itself, the keys the table resized to the patch grid
  at::Tensor queries = (ln_q->forward(query) + pos_embed).unsqueeze(0).expand({N, Q, E});
  at::Tensor keys = kv + pos.unsqueeze(0).to(kv.scalar_type());
  // torch.nn.MultiheadAttention: q, k, v projections from in_proj's thirds, q scaled by 1 / sqrt(head_dim)
  auto w = in_proj_weight.chunk(3, 0);
  auto b = in_proj_bias.chunk(3, 0);
  auto heads = [&](const at::Tensor& t, std::int64_t len) { return t.reshape({N, len, heads_, hd}).transpose(1, 2); };
  at::Tensor q = heads(at::linear(queries, w[0], b[0]), Q);
  at::Tensor k = heads(at::linear(keys, w[1], b[1]), L);
  at::Tensor v = heads(at::linear(kv, w[2], b[2]), L);
  at::Tensor scores = at::matmul(q * std::sqrt(1.0 / static_cast<double>(hd)), k.transpose(-2, -1));
  at::Tensor out = at::matmul(scores.softmax(-1), v).transpose(1, 2).reshape({N, Q, E});
  return out_proj->forward(out);
}

vision_transformer_impl::vision_transformer_impl(const visual_config& c) : config(c) {
  auto conv1 = register_module("conv1", nn::weight_holder(at::randn({c.width, 3, c.patch_size, c.patch_size}) * 0.02));
  conv1_weight = conv1->weight;
  positional_embedding = register_parameter("positional_embedding", at::randn({256, c.width}) * 0.02);
  ln_pre = register_module("ln_pre", nn::layer_norm(c.width, 1e-6));
  auto transformer = register_module("transformer", std::make_shared<torch::nn::Module>());
  resblocks = transformer->register_module("resblocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.layers; ++i) resblocks->push_back(visual_block(c));
  attn_pool = register_module("attn_pool", resampler(c));
  ln_post = register_module("ln_post", nn::layer_norm(c.output_dim, 1e-6));
  proj = register_parameter("proj", at::randn({c.output_dim, c.output_dim}) * 0.02);
}

at::Tensor vision_transformer_impl::forward(const at::Tensor& pixel_values) {
  const std::int64_t S = config.image_size;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != 3 || pixel_values.size(2) != S || pixel_values.size(3) != S)
    fail("Qwen-VL's tower takes pixel_values (images, 3, ", S, ", ", S, "); got ", pixel_values.sizes());
  at::Tensor x = at::conv2d(pixel_values.to(conv1_weight.scalar_type()), conv1_weight, {}, config.patch_size);
  x = x.reshape({x.size(0), x.size(1), -1}).permute({0, 2, 1});  // (N, patches, width)
  x = x + resized_positions(positional_embedding, x.size(1)).to(x.scalar_type());
  x = ln_pre->forward(x);
  for (const auto& m : *resblocks) {
    auto* block = m->as<visual_block_impl>();
    if (gradient_checkpointing && is_training())
      x = nn::checkpoint([block](const at::Tensor& h) { return block->forward(h); }, x);
    else
      x = block->forward(x);
  }
  x = ln_post->forward(attn_pool->forward(x));
  return at::matmul(x, proj);
}

std::vector<std::array<std::int64_t, 3>> image_spans(const at::Tensor& input_ids, std::int64_t image_start_id) {
  at::Tensor ids = input_ids.to(at::kCPU, at::kLong).contiguous();
  auto a = ids.accessor<std::int64_t, 2>();
  std::vector<std::array<std::int64_t, 3>> spans;
  for (std::int64_t b = 0; b < ids.size(0); ++b) {
    std::int64_t open = -1;
    for (std::int64_t t = 0; t < ids.size(1); ++t) {
      if (a[b][t] == image_start_id) {
        if (open >= 0) fail("row ", b, " opens <img> at ", t, " inside the image span opened at ", open);
        open = t;
      } else if (a[b][t] == image_start_id + 1) {
        if (open < 0) fail("row ", b, " has </img> at ", t, " without an <img> before it");
        spans.push_back({b, open, t});
        open = -1;
      }
    }
    if (open >= 0) fail("row ", b, " has <img> at ", open, " without its </img> (was the sequence cut inside an image?)");
  }
  return spans;
}

qwen_vl_model_impl::qwen_vl_model_impl(const qwen_vl_config& c) : config(c) {
  language_model = register_module("transformer", lm::decoder_model(c.text));
  visual = language_model->register_module("visual", vision_transformer(c.visual));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor qwen_vl_model_impl::input_embeddings(const inputs& in) {
  at::Tensor embeds = language_model->embed(in.input_ids);
  const auto spans = image_spans(in.input_ids, config.visual.image_start_id);
  const std::int64_t images = in.pixel_values.defined() ? in.pixel_values.size(0) : 0;
  if (static_cast<std::int64_t>(spans.size()) != images)
    fail("the batch has ", spans.size(), " image spans (<img> ... </img>) but ", images, " images in pixel_values");
  if (spans.empty()) return embeds;
  at::Tensor features = visual->forward(in.pixel_values).to(embeds.scalar_type());  // (images, n_queries, H)
  at::Tensor is_image = at::zeros(in.input_ids.sizes(), at::kBool);
  for (const auto& [row, open, close] : spans) {
    if (close - open - 1 != features.size(1))
      fail("an image span of ", close - open - 1, " ids (row ", row, ", from ", open, "); each image is ", features.size(1),
           " embeddings");
    is_image[row].narrow(0, open + 1, close - open - 1).fill_(true);
  }
  is_image = is_image.to(embeds.device());
  return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features.reshape({-1, features.size(2)}));
}

at::Tensor qwen_vl_model_impl::hidden_states(const inputs& in) {
  const std::int64_t T = in.input_ids.size(1);
  if (!is_training() && config.long_context_scaling && T > config.seq_length)
    fail(T, " positions is over seq_length ", config.seq_length, ": beyond it Qwen-VL's remote code scales attention ",
         "(dynamic NTK, log-n) at inference, which lmms does not implement; keep sequences within ", config.seq_length);
  at::Tensor embeds = input_embeddings(in);
  at::Tensor positions = lm::packed_position_ids(in.attention_mask, in.input_ids.size(0), T);
  return language_model->forward_embeds(embeds, positions, in.attention_mask);
}

at::Tensor qwen_vl_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, language_model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

void load_weights(qwen_vl_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint);
}

}  // namespace lmms::qwen_vl
