// lmms/models/model_traits_decl.hpp: the one extension door of lmms. A model type M is usable
// in a recipe when lmms::model_traits<M> is specialized (each model header does it; a user
// model does it the same way, see docs/recipes.md). The primary template is a diagnostic only.
// No torch.
#pragma once

#include <type_traits>

namespace lmms {

template <class... Ts>
struct type_list {};

/// Component tags: the parts of a model a recipe gives a policy to.
struct llm_t {
  static constexpr const char* name = "llm";
};
struct vision_t {
  static constexpr const char* name = "vision";
};
struct projector_t {
  static constexpr const char* name = "projector";
};

namespace diag {
/// Never defined: instantiating it makes the first error line name the model type.
template <class M>
struct no_model_traits_for;
}  // namespace diag

template <class M>
struct model_traits {
  static constexpr bool specialized = false;
  static_assert(sizeof(diag::no_model_traits_for<M>*) > 0 && !std::is_same_v<M, M>,
                "lmms: this model type has no model_traits specialization; include the model's header "
                "(for example <lmms/models/llava/llava_1_5.hpp>) or specialize lmms::model_traits (docs/recipes.md)");
};

/// A specialization declares (see models/llava/llava_1_5.hpp):
///   static constexpr bool specialized = true;
///   static constexpr const char* name;           // "llava-1.5": resolved recipes and logs
///   using components = type_list<llm_t, ...>;   // what policies may name
///   using collator = ...;                        // the family's collator tag
///   static constexpr bool images, multi_image, video;   // media it takes
///   static constexpr bool vision_lora;           // the tower has Linear layers for LoRA
///   (optional) static constexpr bool vision_full_with_adapter = false;  // vision(full) only
///                                                // without LoRA (tower parameters outside modules)
///   static int train(const recipe::resolved&);   // the runner (compiled once, in the runtime)

}  // namespace lmms
