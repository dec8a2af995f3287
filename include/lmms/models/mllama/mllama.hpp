// lmms/models/mllama/mllama.hpp: Llama-3.2-Vision (transformers' MllamaForConditionalGeneration).
// Unlike LLaVA, image features never enter the token sequence: the one <|image|> token of each
// image stays a text token, and the language model (Llama-3 with llama3 rope scaling) has gated
// cross-attention layers at config.cross_attention_layers that attend to the projected vision
// features; a text token sees the tiles of the image (or run of adjacent images) most recently
// before it, as transformers' MllamaProcessor builds the mask (cross_attention_mask below).
//
// The vision encoder works on tiles (processors/mllama.hpp): a patch embedding per tile, tile
// aspect-ratio embeddings before and after a local transformer, gated position embeddings, a
// gated global transformer over all tiles of an image, and the local transformer's
// intermediate layers concatenated to the output (vision_output_dim = hidden x (1 + layers)).
//
// Parameter names are transformers 5's in-memory names (model.vision_model.*,
// model.language_model.*, model.multi_modal_projector.*, lm_head.*), as PEFT adapters name
// them; the hub layout (vision_model.*, language_model.model.*, language_model.lm_head.*) loads too.
//
//   auto cfg = mllama::mllama_config::from_hf(io::hf_config::load(dir));
//   mllama::mllama_model model(cfg);
//   mllama::load_weights(*model, io::safetensors_checkpoint::open(dir));
//   at::Tensor logits = model->forward({.input_ids = ids, .pixel_values = pv, ...});
#pragma once

#include <vector>

#include "lmms/infer/generate.hpp"
#include "lmms/io/hf_config.hpp"
#include "lmms/io/safetensors.hpp"
#include "lmms/models/llm/decoder.hpp"
#include "lmms/nn/linear.hpp"
#include "lmms/nn/norm.hpp"
#include "lmms/torch.hpp"

namespace lmms::mllama {

struct vision_config {
  std::int64_t hidden_size = 0, intermediate_size = 0, num_layers = 0, num_global_layers = 0, num_heads = 0;
  std::int64_t num_channels = 3, image_size = 0, patch_size = 14, max_num_tiles = 4;
  std::int64_t max_aspect_ratio_id = 0;  // len(supported_aspect_ratios); id 0 is "no image"
  std::vector<std::int64_t> intermediate_layers;  // local layers whose outputs join the features
  double norm_eps = 1e-5;
  std::int64_t vision_output_dim = 0;  // hidden_size x (1 + intermediate_layers)
  /// Tokens per tile: the patches and the class token.
  std::int64_t tokens_per_tile() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }
};

/// Llama-3 rope scaling ("llama3" rope type): low frequencies divided by factor, high ones kept,
/// a smooth blend between (transformers' _compute_llama3_parameters). factor 0: default rope.
struct llama3_rope {
  double factor = 0, low_freq_factor = 1, high_freq_factor = 4;
  double original_max_positions = 8192;
};

struct mllama_config {
  lm::decoder_config text;  // the self-attention layers (a Llama-3 decoder); vocab_size is the head's
  llama3_rope rope;
  std::vector<std::int64_t> cross_attention_layers;
  vision_config vision;
  std::int64_t image_token_id = 0;
  /// Reads a transformers MllamaConfig (config.json with text_config and vision_config).
  static mllama_config from_hf(const io::hf_config& config);
  bool is_cross_attention_layer(std::int64_t index) const;
};

/// A batch as MllamaProcessor gives it (media axes padded to the batch's most images / tiles).
struct inputs {
  at::Tensor input_ids;             // (B, T)
  at::Tensor attention_mask;        // (B, T) 0/1, or undefined
  at::Tensor pixel_values;          // (B, images, tiles, 3, tile, tile), or undefined (text only)
  at::Tensor aspect_ratio_ids;      // (B, images), 0 for a padding image slot
  at::Tensor aspect_ratio_mask;     // (B, images, tiles), 1 on real tiles
  at::Tensor cross_attention_mask;  // (B, T, images, tiles), 1 where a token sees a tile
};

/// Which tiles each token sees, as MllamaProcessor builds it (get_cross_attention_token_mask,
/// convert_sparse_cross_attention_mask_to_dense): the tokens from an <|image|> token up to the
/// next one (or the end) see that image's tiles; adjacent image tokens share the span that
/// follows the last of them. num_tiles: per row, the tile count of each image in order.
/// Returns (B, T, max images, max_tiles) int64.
at::Tensor cross_attention_mask(const at::Tensor& input_ids, std::int64_t image_token_id,
                                const std::vector<std::vector<std::int64_t>>& num_tiles, std::int64_t max_tiles);

/// Inverse rope frequencies (head_dim / 2) with Llama-3 scaling, in float32 as transformers.
at::Tensor rope_inverse_frequencies(const mllama_config& config);

// ---- vision ---------------------------------------------------------------------------------
class vision_attention_impl : public torch::nn::Module {
 public:
  explicit vision_attention_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, head_dim_;
};
TORCH_MODULE_IMPL(vision_attention, vision_attention_impl);

class vision_mlp_impl : public torch::nn::Module {
 public:
  explicit vision_mlp_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x);  // fc2(gelu(fc1(x))), exact gelu
  nn::linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE_IMPL(vision_mlp, vision_mlp_impl);

/// A pre-norm encoder layer; the global transformer's layers scale the attention and MLP
/// outputs by tanh(gate_attn) and tanh(gate_ffn).
class vision_layer_impl : public torch::nn::Module {
 public:
  vision_layer_impl(const vision_config& c, bool gated);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);
  vision_attention self_attn{nullptr};
  vision_mlp mlp{nullptr};
  nn::layer_norm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  at::Tensor gate_attn, gate_ffn;  // gated layers only
};
TORCH_MODULE_IMPL(vision_layer, vision_layer_impl);

/// The tile embedding chosen by the image's aspect ratio id, added to every token of each tile,
/// scaled by tanh(gate) (MllamaPrecomputedAspectRatioEmbedding).
class aspect_ratio_embedding_impl : public torch::nn::Module {
 public:
  explicit aspect_ratio_embedding_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& aspect_ratio_ids);  // x (BN, tiles, L, D)
  at::Tensor embedding_weight, gate;

 private:
  std::int64_t tiles_, hidden_;
};
TORCH_MODULE_IMPL(aspect_ratio_embedding, aspect_ratio_embedding_impl);

/// (1 - tanh(gate)) x a position embedding per token + tanh(gate) x a per-aspect-ratio embedding
/// of every (tile, token) (MllamaPrecomputedPositionEmbedding).
class position_embedding_impl : public torch::nn::Module {
 public:
  explicit position_embedding_impl(const vision_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& aspect_ratio_ids);  // x (BN, tiles, P, D)
  at::Tensor gate, embedding, tile_embedding_weight;

 private:
  std::int64_t tiles_, tokens_, hidden_;
};
TORCH_MODULE_IMPL(position_embedding, position_embedding_impl);

class vision_model_impl : public torch::nn::Module {
 public:
  explicit vision_model_impl(const vision_config& c);
  /// pixel_values (B, N, tiles, C, S, S), aspect_ratio_ids (B, N), aspect_ratio_mask (B, N, tiles)
  /// -> (B, N, tiles, tokens_per_tile, vision_output_dim).
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& aspect_ratio_ids, const at::Tensor& aspect_ratio_mask);

  at::Tensor patch_embedding_weight, class_embedding;
  position_embedding gated_positional_embedding{nullptr};
  aspect_ratio_embedding pre_tile_positional_embedding{nullptr}, post_tile_positional_embedding{nullptr};
  nn::layer_norm layernorm_pre{nullptr}, layernorm_post{nullptr};
  torch::nn::ModuleList transformer_layers{nullptr}, global_layers{nullptr};  // transformer.layers, global_transformer.layers
  vision_config config;
  bool gradient_checkpointing = false;
};
TORCH_MODULE_IMPL(vision_model, vision_model_impl);

// ---- language model ---------------------------------------------------------------------------
/// Text queries (q_norm'd) attend to the projected vision features (k_norm'd keys).
class cross_attention_impl : public torch::nn::Module {
 public:
  explicit cross_attention_impl(const lm::decoder_config& c);
  /// x (B, T, H); keys / values (B, kv_heads, S, head_dim) from project(); mask additive (B, 1, T, S).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& keys, const at::Tensor& values, const at::Tensor& mask);
  /// Keys and values of the vision features (B, S, H), computed once per batch (or prompt).
  std::pair<at::Tensor, at::Tensor> project(const at::Tensor& states);
  nn::linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  lm::rms_norm q_norm{nullptr}, k_norm{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE_IMPL(cross_attention, cross_attention_impl);

/// What the cross-attention layers need for one forward.
struct cross_inputs {
  std::vector<std::pair<at::Tensor, at::Tensor>> keys_values;  // per cross layer, in order
  at::Tensor mask;      // (B, 1, T, S) additive; a row that sees no tile is all 0
  at::Tensor row_seen;  // (B, T, 1): 1 where the token sees a tile (its MLP output is kept)
};

class cross_decoder_layer_impl : public torch::nn::Module {
 public:
  explicit cross_decoder_layer_impl(const lm::decoder_config& c);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& keys, const at::Tensor& values, const at::Tensor& mask,
                     const at::Tensor& row_seen);
  cross_attention cross_attn{nullptr};
  lm::rms_norm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  lm::mlp mlp{nullptr};
  at::Tensor cross_attn_attn_gate, cross_attn_mlp_gate;
};
TORCH_MODULE_IMPL(cross_decoder_layer, cross_decoder_layer_impl);

class text_model_impl : public torch::nn::Module {
 public:
  explicit text_model_impl(const mllama_config& c);
  at::Tensor embed(const at::Tensor& input_ids) { return at::embedding(embed_tokens_weight, input_ids); }
  /// Hidden states after the final norm. cross: undefined keys (text only) skip the cross layers.
  /// With a cache (generation), the self-attention layers append to it.
  at::Tensor forward_embeds(const at::Tensor& embeds, const at::Tensor& position_ids, const at::Tensor& attention_mask,
                            const cross_inputs* cross, lm::kv_cache* cache = nullptr);
  at::Tensor embed_tokens_weight;  // embed_tokens.weight: vocab_size + 8 rows (the image token is one)
  torch::nn::ModuleList layers{nullptr};
  lm::rms_norm norm{nullptr};
  mllama_config config;
  at::Tensor inv_freq;
  /// Recompute the self-attention layers in backward (the few cross-attention layers keep
  /// their activations: their keys and values depend on the trainable projector).
  bool gradient_checkpointing = false;
};
TORCH_MODULE_IMPL(text_model, text_model_impl);

class mllama_model_impl : public torch::nn::Module {
 public:
  explicit mllama_model_impl(const mllama_config& c);
  /// The cross-attention keys / values and masks for a batch with images (empty without).
  cross_inputs cross_states(const inputs& in);
  at::Tensor hidden_states(const inputs& in);
  at::Tensor forward(const inputs& in);  // float logits (B, T, V)
  at::Tensor logits_from_hidden(const at::Tensor& hidden);

  vision_model vision{nullptr};             // model.vision_model
  text_model language_model{nullptr};       // model.language_model
  nn::linear multi_modal_projector{nullptr};  // model.multi_modal_projector
  nn::linear lm_head{nullptr};
  mllama_config config;
};
TORCH_MODULE_IMPL(mllama_model, mllama_model_impl);

/// Generation steps for a prompt batch (left-padded when B > 1, the cross-attention mask built
/// on the padded ids): the vision features are projected once; every new token sees the tiles
/// the last prompt token sees (as transformers extends the mask). Returns the prompt embeddings
/// and the steps for infer::generate / generate_batch.
std::pair<at::Tensor, infer::decoder_steps> generation_steps(mllama_model model, const inputs& prompt);

/// The checkpoint name of an in-memory parameter name, in whichever layout the file has.
std::function<std::string(const std::string&)> checkpoint_names(const io::safetensors_checkpoint& checkpoint);
/// Loads every parameter from either layout; a missing or misshapen tensor is an error naming it.
void load_weights(mllama_model_impl& model, const io::safetensors_checkpoint& checkpoint);

}  // namespace lmms::mllama

#ifdef LMMS_IMPLEMENTATION
#include "lmms/impl/models/mllama_impl.hpp"
#endif
