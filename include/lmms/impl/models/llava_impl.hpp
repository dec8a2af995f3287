// Implementation of lmms/models/llava/llava.hpp (LMMS_IMPLEMENTATION only). Mirrors
// transformers' modeling_llava.py, modeling_llava_next.py and modeling_llava_onevision.py
// (get_image_features, pack_image_features, masked_scatter of image features).
#pragma once

#include <cctype>
#include <cmath>

#include "lmms/core/error.hpp"
#include "lmms/models/llava/llava.hpp"

namespace lmms::llava {

namespace {
// image_grid_pinpoints [[h, w], ...] (hf_config reads flat lists only)
std::vector<processors::resolution> parse_pinpoints(const io::hf_config& c) {
  std::vector<int> numbers;
  const std::string text = c.value_text("image_grid_pinpoints");
  for (std::size_t i = 0; i < text.size();) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      std::size_t end = i;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      numbers.push_back(std::stoi(text.substr(i, end - i)));
      i = end;
    } else {
      ++i;
    }
  }
  if (numbers.empty() || numbers.size() % 2 != 0)
    fail(c.source(), ": image_grid_pinpoints ", text, " is not a list of [height, width] pairs");
  std::vector<processors::resolution> out;
  for (std::size_t i = 0; i < numbers.size(); i += 2) out.emplace_back(numbers[i], numbers[i + 1]);
  return out;
}
}  // namespace

llava_config llava_config::from_hf(const io::hf_config& c) {
  const std::string type = c.get_string_or("model_type", "");
  if (type != "llava" && type != "llava_next" && type != "llava_onevision" && type != "llava_next_video")
    fail(c.source(), ": model_type ", quote(type), " is not a LLaVA model lmms implements (llava: LLaVA-1.5 and ",
         "Interleave, llava_next, llava_next_video, llava_onevision)");
  llava_config l;
  l.model_type = type;
  l.text = lm::decoder_config::from_hf(c.section("text_config"));
  l.vision = vit::clip_config::from_hf(c.section("vision_config"));
  l.image_token_id = c.has("image_token_id") ? c.get_int("image_token_id") : c.get_int("image_token_index");
  std::vector<std::int64_t> layers;
  if (c.value_text("vision_feature_layer").starts_with("["))
    layers = c.get_int_list("vision_feature_layer");
  else
    layers.push_back(c.get_int_or("vision_feature_layer", -2));
  for (std::int64_t k : layers) {
    // hidden_states has num_layers + 1 entries: the embeddings, then each layer's output
    const std::int64_t index = k < 0 ? l.vision.num_layers + 1 + k : k;
    if (index < 0 || index > l.vision.num_layers)
      fail(c.source(), ": vision_feature_layer ", k, " is outside the tower's ", l.vision.num_layers, " layers");
    l.feature_layers.push_back(index);
  }
  const std::string strategy = c.get_string_or("vision_feature_select_strategy", "default");
  if (strategy != "default" && strategy != "full")
    fail(c.source(), ": vision_feature_select_strategy ", quote(strategy), " is not one of default, full");
  l.drop_cls = strategy == "default";
  l.projector_act = c.get_string_or("projector_hidden_act", "gelu");
  if (l.projector_act != "gelu")
    fail(c.source(), ": projector_hidden_act ", quote(l.projector_act), " is not implemented (gelu)");
  l.projector_bias = c.get_bool_or("multimodal_projector_bias", true);
  // a tied lm_head lives in the top-level config for LLaVA
  l.text.tie_word_embeddings = c.get_bool_or("tie_word_embeddings", l.text.tie_word_embeddings);
  if (type != "llava") {
    processors::anyres_layout a;
    a.grid_pinpoints = parse_pinpoints(c);
    a.tile = static_cast<int>(l.vision.image_size);
    a.grid = static_cast<int>(l.vision.image_size / l.vision.patch_size);
    a.base_tokens = l.image_tokens();
    if (a.base_tokens != static_cast<std::int64_t>(a.grid) * a.grid)
      fail(c.source(), ": anyres needs one feature per patch; vision_feature_select_strategy ", quote(strategy),
           " with this tower leaves ", a.base_tokens, " (use \"default\" for CLIP, \"full\" for SigLIP)");
    for (const auto& [h, w] : a.grid_pinpoints)
      if (h % a.tile != 0 || w % a.tile != 0)
        fail(c.source(), ": image_grid_pinpoints [", h, ", ", w, "] is not a multiple of the tower's image_size ", a.tile);
    if (type == "llava_onevision") {
      const std::string aspect = c.get_string_or("vision_aspect_ratio", "anyres_max_9");
      if (!aspect.starts_with("anyres_max_"))
        fail(c.source(), ": vision_aspect_ratio ", quote(aspect), " is not anyres_max_N");
      a.max_tiles = std::stoi(aspect.substr(11));
      a.multi_image_tiles = false;
    }
    l.anyres = a;
  }
  if (type == "llava_onevision" || type == "llava_next_video")
    l.video_token_id = c.has("video_token_id") ? c.get_int("video_token_id") : c.get_int_or("video_token_index", -1);
  if (type == "llava_next_video") {
    const std::string mode = c.get_string_or("spatial_pool_mode", "average");
    if (mode != "average")
      fail(c.source(), ": spatial_pool_mode ", quote(mode), " is not implemented (average, as the released checkpoints)");
    l.video_pool_stride = static_cast<int>(c.get_int_or("spatial_pool_stride", 2));
  }
  return l;
}

projector_impl::projector_impl(std::int64_t in, std::int64_t out, const std::string& act, bool bias) : act_(act) {
  linear_1 = register_module("linear_1", nn::linear(in, out, bias));
  linear_2 = register_module("linear_2", nn::linear(out, out, bias));
}

at::Tensor projector_impl::forward(const at::Tensor& x) { return linear_2->forward(at::gelu(linear_1->forward(x))); }

llava_model_impl::llava_model_impl(const llava_config& c) : config(c) {
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  vision_tower = model->register_module("vision_tower", vit::clip_vision(c.vision));
  const auto in = c.vision.hidden_size * static_cast<std::int64_t>(c.feature_layers.size());
  multi_modal_projector = model->register_module(
      "multi_modal_projector", projector(in, c.text.hidden_size, c.projector_act, c.projector_bias));
  if (c.anyres)  // transformers draws it from N(0, 1/sqrt(hidden)); checkpoints overwrite it
    image_newline = model->register_parameter(
        "image_newline", at::randn({c.text.hidden_size}) / std::sqrt(static_cast<double>(c.text.hidden_size)));
  language_model = model->register_module("language_model", lm::decoder_model(c.text));
  if (!c.text.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::linear(c.text.hidden_size, c.text.vocab_size, false));
}

at::Tensor llava_model_impl::image_features(const at::Tensor& pixel_values) {
  return multi_modal_projector->forward(tower_features(pixel_values));
}

at::Tensor llava_model_impl::tower_features(const at::Tensor& pixel_values) {
  const std::int64_t deepest = *std::max_element(config.feature_layers.begin(), config.feature_layers.end());
  std::vector<at::Tensor> hidden = vision_tower->hidden_states(pixel_values, deepest - 1);
  std::vector<at::Tensor> picked;
  for (std::int64_t k : config.feature_layers) {
    at::Tensor h = hidden[k];
    if (config.drop_cls) h = h.narrow(1, 1, h.size(1) - 1);
    picked.push_back(h);
  }
  return picked.size() == 1 ? picked[0] : at::cat(picked, -1);
}

at::Tensor llava_model_impl::image_embeddings(const at::Tensor& pixel_values, const at::Tensor& image_sizes,
                                             const at::Tensor& image_tiles) {
  at::Tensor features = image_features(pixel_values);  // (tiles, base_tokens, D)
  if (!config.anyres) return features.reshape({-1, features.size(-1)});
  const auto& layout = *config.anyres;
  const std::int64_t images = image_sizes.defined() ? image_sizes.size(0) : 0;
  // sizes and tile counts read once on the CPU (one copy, not a device sync per image)
  at::Tensor sizes = images ? image_sizes.to(at::kCPU, at::kLong).contiguous() : at::Tensor();
  at::Tensor tile_counts = image_tiles.defined() ? image_tiles.to(at::kCPU, at::kLong).contiguous() : at::Tensor();
  std::vector<at::Tensor> out;
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < images; ++i) {
    const int height = static_cast<int>(sizes.data_ptr<std::int64_t>()[2 * i]);
    const int width = static_cast<int>(sizes.data_ptr<std::int64_t>()[2 * i + 1]);
    const std::int64_t tiles = tile_counts.defined() ? tile_counts.data_ptr<std::int64_t>()[i] : layout.tiles(height, width);
    if (offset + tiles > features.size(0))
      fail("the batch has ", features.size(0), " image tiles but its image sizes ask for more (image ", i, " of ",
           images, "): pixel_values, image_sizes and image_tiles must come from the same collate");
    at::Tensor f = features.narrow(0, offset, tiles);
    offset += tiles;
    at::Tensor base = f[0];
    at::Tensor newline = image_newline.to(f.scalar_type());
    if (tiles == 1) {  // one tile: its features and a newline
      out.push_back(at::cat({base, newline.unsqueeze(0)}, 0));
      continue;
    }
    // pack_image_features: the crops' features as one (D, rows, cols) grid, unpadded, capped
    const auto [best_h, best_w] = processors::select_best_resolution(height, width, layout.grid_pinpoints);
    const std::int64_t nh = best_h / layout.tile, nw = best_w / layout.tile, g = layout.grid;
    if (tiles != 1 + nh * nw)
      fail("image ", i, " has ", tiles, " tiles but its size ", height, "x", width, " gives ", 1 + nh * nw);
    at::Tensor grid = f.narrow(0, 1, tiles - 1)
                          .view({nh, nw, g, g, -1})
                          .permute({4, 0, 2, 1, 3})
                          .contiguous()
                          .flatten(1, 2)
                          .flatten(2, 3);  // (D, nh*g, nw*g)
    // unpadding keeps the centred rows and columns (the same arithmetic counts the tokens in the
    // data pipeline); the anyres_max cap then resizes bilinearly
    const auto [kept_rows, kept_cols] = layout.unpadded_grid(height, width);
    grid = grid.narrow(1, (grid.size(1) - kept_rows) / 2, kept_rows).narrow(2, (grid.size(2) - kept_cols) / 2, kept_cols);
    const auto [rows, cols] = layout.feature_grid(height, width);
    if (rows != kept_rows || cols != kept_cols)
      grid = at::upsample_bilinear2d(grid.unsqueeze(0), {rows, cols}, false)[0];
    at::Tensor with_newlines = at::cat({grid, newline.view({-1, 1, 1}).expand({grid.size(0), rows, 1})}, -1);
    out.push_back(at::cat({base, with_newlines.flatten(1, 2).transpose(0, 1)}, 0));
  }
  if (offset != features.size(0))
    fail("the batch has ", features.size(0), " image tiles but its ", images, " image sizes account for ", offset);
  return out.empty() ? features.new_empty({0, features.size(-1)}) : at::cat(out, 0);
}

at::Tensor llava_model_impl::video_embeddings(const at::Tensor& videos) {
  if (videos.dim() != 5) fail("pixel_values_videos must be (videos, frames, 3, S, S); got ", videos.sizes());
  const std::int64_t n = videos.size(0), frames = videos.size(1);
  const std::int64_t side = config.vision.image_size / config.vision.patch_size;
  if (config.model_type == "llava_next_video") {  // LlavaNextVideoPooler (average), then the projector
    at::Tensor t = tower_features(videos.flatten(0, 1));
    if (t.size(1) != side * side)
      fail("NeXT-Video pooling needs one feature per patch; the feature strategy leaves ", t.size(1));
    at::Tensor grid = t.view({n * frames, side, side, -1}).permute({0, 3, 1, 2});
    const std::int64_t k[2] = {config.video_pool_stride, config.video_pool_stride};
    grid = at::avg_pool2d(grid, at::IntArrayRef(k, 2), at::IntArrayRef(k, 2));
    at::Tensor pooled = grid.flatten(2).transpose(1, 2).contiguous();
    return multi_modal_projector->forward(pooled).reshape({-1, config.text.hidden_size});
  }
  at::Tensor f = image_features(videos.flatten(0, 1));  // (n * frames, grid * grid, D)
  const std::int64_t pooled = (side + 1) / 2;
  if (f.size(1) != side * side)
    fail("OneVision video pooling needs one feature per patch; the feature strategy leaves ", f.size(1));
  // apply_pooling: (frames, D, side, side) resized bilinearly to ceil(side / 2) per side
  at::Tensor grid = f.view({n * frames, side, side, -1}).permute({0, 3, 1, 2}).contiguous();
  grid = at::upsample_bilinear2d(grid, {pooled, pooled}, false).permute({0, 2, 3, 1});
  at::Tensor per_video = grid.reshape({n, frames * pooled * pooled, -1});
  at::Tensor newline = image_newline.to(per_video.scalar_type()).view({1, 1, -1}).expand({n, 1, -1});
  return at::cat({per_video, newline}, 1).flatten(0, 1);
}

at::Tensor llava_model_impl::input_embeddings(const at::Tensor& input_ids, const at::Tensor& pixel_values,
                                              const at::Tensor& image_sizes, const at::Tensor& image_tiles,
                                              const at::Tensor& pixel_values_videos) {
  at::Tensor embeds = language_model->embed(input_ids);
  at::Tensor is_image = input_ids == config.image_token_id;
  const std::int64_t image_tokens = is_image.sum().item<std::int64_t>();
  const bool has_pixels = pixel_values.defined() && pixel_values.size(0) > 0;
  if (config.video_token_id >= 0) {
    at::Tensor is_video = input_ids == config.video_token_id;
    const std::int64_t video_tokens = is_video.sum().item<std::int64_t>();
    const bool has_videos = pixel_values_videos.defined() && pixel_values_videos.size(0) > 0;
    if (video_tokens != 0 || has_videos) {
      if (!has_videos) fail("the batch has ", video_tokens, " <video> tokens but no pixel_values_videos");
      at::Tensor features = video_embeddings(pixel_values_videos).to(embeds.scalar_type());
      if (features.size(0) != video_tokens)
        fail("the batch has ", video_tokens, " <video> tokens but its videos give ", features.size(0),
             " embeddings (each <video> expands to frames * ceil(grid / 2)^2 + 1 tokens)");
      embeds = embeds.masked_scatter(is_video.unsqueeze(-1).expand_as(embeds), features);
    }
  } else if (pixel_values_videos.defined() && pixel_values_videos.size(0) > 0) {
    fail(config.model_type, " with this config takes no videos");
  }
  if (!has_pixels) {
    if (image_tokens != 0)
      fail("the batch has ", image_tokens, " <image> tokens but no pixel_values");
    return embeds;
  }
  if (config.anyres && !image_sizes.defined())
    fail(config.model_type, " needs image_sizes (each image's original height and width) with pixel_values");
  at::Tensor features = image_embeddings(pixel_values, image_sizes, image_tiles).to(embeds.scalar_type());
  if (image_tokens != features.size(0)) {
    if (!config.anyres)
      fail("the batch has ", image_tokens, " <image> tokens but ", pixel_values.size(0), " image",
           pixel_values.size(0) == 1 ? "" : "s", " of ", config.image_tokens(), " tokens each (the collator must expand ",
           "each <image> to ", config.image_tokens(), " tokens and never truncate inside one)");
    fail("the batch has ", image_tokens, " <image> tokens but its images give ", features.size(0),
         " embeddings (the collator must expand each <image> to the image's anyres token count and never truncate ",
         "inside one)");
  }
  return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features);
}

at::Tensor llava_model_impl::hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                           const at::Tensor& pixel_values, const at::Tensor& image_sizes,
                                           const at::Tensor& image_tiles, const at::Tensor& pixel_values_videos) {
  at::Tensor embeds = input_embeddings(input_ids, pixel_values, image_sizes, image_tiles, pixel_values_videos);
  at::Tensor positions = lm::packed_position_ids(attention_mask, input_ids.size(0), input_ids.size(1));
  return language_model->forward_embeds(embeds, positions, attention_mask);
}

at::Tensor llava_model_impl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                     const at::Tensor& pixel_values, const at::Tensor& image_sizes,
                                     const at::Tensor& image_tiles, const at::Tensor& pixel_values_videos) {
  return logits_from_hidden(
      hidden_states(input_ids, attention_mask, pixel_values, image_sizes, image_tiles, pixel_values_videos));
}

at::Tensor llava_model_impl::logits_from_hidden(const at::Tensor& hidden) {
  at::Tensor logits = lm_head ? lm_head->forward(hidden) : at::linear(hidden, language_model->embed_tokens_weight);
  return logits.to(at::kFloat);
}

void load_weights(llava_model_impl& model, const io::safetensors_checkpoint& checkpoint) {
  lm::load_weights(model, checkpoint, models::checkpoint_names(checkpoint));
}

}  // namespace lmms::llava
