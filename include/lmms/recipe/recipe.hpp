// lmms/recipe/recipe.hpp: Recipe{...}, the compile-time checks, and run().
//
//   auto recipe = Recipe{
//       model<llava_1_5>{.path = "example_data/models/tiny-llava-shapes"},
//       data::llava_json{.file = "example_data/shapes/train.json", .image_folder = "example_data/shapes/images"},
//       llm(lora{.rank = 8}), projector(full),
//       train{.epochs = 3, .lr = 2e-4, .output_dir = "runs/llava-lora"},
//   };
//   return run(recipe, argc, argv);     // --train.lr=1e-4, --config run.json, --help, --dry-run
//
// Parts may come in any order. Each mistake is one `lmms:` sentence at compile time; the
// incomplete diag:: type on the next error line names the offending type.
#pragma once

#include <tuple>
#include <type_traits>

#include "lmms/recipe/parts.hpp"
#include "lmms/recipe/resolved.hpp"

namespace lmms {

namespace diag {  // never defined: the error line that instantiates one names the type
template <class Component>
struct policy_given_twice_for;
template <class Component, class Model>
struct component_not_in_model;
template <class Collator, class Model>
struct collator_of_another_family;
template <class Part>
struct not_a_recipe_part;
}  // namespace diag

namespace recipe_detail {
/// Instantiated after the static_assert that explains the mistake: its error line names D's
/// template arguments (the offending types).
template <class D>
constexpr bool name_in_diagnostic() {
  return sizeof(D) > 0;
}

template <class T> struct is_model : std::false_type {};
template <class M> struct is_model<model<M>> : std::true_type {};
template <class T> struct is_policy : std::false_type {};
template <class C, class P> struct is_policy<component_policy<C, P>> : std::true_type {};
template <class T> struct is_data : std::false_type {};
template <class M> struct is_data<data::llava_json<M>> : std::true_type {};
template <class T> struct is_collator : std::false_type {};
template <class C> struct is_collator<collator<C>> : std::true_type {};
template <class T> constexpr bool is_precision = std::is_same_v<T, precision::fp32> || std::is_same_v<T, precision::bf16> ||
                                               std::is_same_v<T, precision::fp16>;
template <class T> constexpr bool is_part = is_model<T>::value || is_policy<T>::value || is_data<T>::value ||
                                            is_collator<T>::value || is_precision<T> || std::is_same_v<T, train>;

template <template <class> class Is, class... Ps>
constexpr int count = (0 + ... + (Is<Ps>::value ? 1 : 0));

template <class C, class P>
constexpr int policy_for_one() {
  if constexpr (is_policy<P>::value) return std::is_same_v<typename P::component, C> ? 1 : 0;
  else return 0;
}
template <class C, class... Ps>
constexpr int policies_for = (0 + ... + policy_for_one<C, Ps>());

template <class C, class List> struct contains;
template <class C, class... Cs> struct contains<C, type_list<Cs...>> : std::bool_constant<(std::is_same_v<C, Cs> || ...)> {};

template <class Default, class... Ps> struct first_model { using type = Default; };
template <class D, class P, class... Ps> struct first_model<D, P, Ps...> {
  using type = std::conditional_t<is_model<P>::value, P, typename first_model<D, Ps...>::type>;
};

template <class D>
struct model_of { using type = void; };
template <class M>
struct model_of<model<M>> { using type = M; };

/// The checks of one policy against the model.
template <class M, class P>
constexpr bool check_policy() {
  using C = typename P::component;
  using Policy = typename P::policy_type;
  constexpr bool in_model = contains<C, typename model_traits<M>::components>::value;
  if constexpr (!in_model) {
    static_assert(in_model, "lmms: the recipe gives a policy to a component this model does not have; remove it or "
                            "use one of the model's components (lmms supported-models, docs/recipes.md)");
    return name_in_diagnostic<diag::component_not_in_model<C, M>>();  // names the component and the model
  } else if constexpr (std::is_same_v<Policy, qlora> && !std::is_same_v<C, llm_t>) {
    static_assert(std::is_same_v<C, llm_t>, "lmms: qlora is for the language model only; give this component lora{...}, "
                                            "full or frozen instead (docs/recipes.md)");
    return false;
  } else if constexpr (std::is_same_v<C, vision_t> && std::is_base_of_v<lora, Policy> && !model_traits<M>::vision_lora) {
    static_assert(model_traits<M>::vision_lora, "lmms: this model's vision tower has no Linear layers for LoRA; use "
                                                "vision(full) or vision(frozen) (docs/recipes.md)");
    return false;
  } else {
    return true;
  }
}

/// A LoRA or QLoRA policy (an adapter in the output), and vision(full).
template <class P>
constexpr bool is_adapter_policy() {
  if constexpr (is_policy<P>::value) return std::is_base_of_v<lora, typename P::policy_type>;
  else return false;
}
template <class P>
constexpr bool is_full_vision() {
  if constexpr (is_policy<P>::value)
    return std::is_same_v<typename P::component, vision_t> && std::is_same_v<typename P::policy_type, full_t>;
  else return false;
}
/// model_traits<M>::vision_full_with_adapter, true where a model does not say (its tower is modules only).
template <class M>
constexpr bool vision_full_with_adapter() {
  if constexpr (requires { model_traits<M>::vision_full_with_adapter; }) return model_traits<M>::vision_full_with_adapter;
  else return true;
}

/// The checks of one part that depend on the model: policies, data media, collator family.
template <class M, class P>
constexpr bool check_part() {
  if constexpr (is_policy<P>::value) {
    return check_policy<M, P>();
  } else if constexpr (is_data<P>::value) {
    using media = typename P::media;
    static_assert(!media::has_video || model_traits<M>::video,
                  "lmms: the data has videos but this model takes images only; use data::llava_json<data::images> "
                  "or a video model (docs/supported_models.md)");
    static_assert(!media::multi_image || model_traits<M>::multi_image,
                  "lmms: the data has several images per sample but this model takes one; use "
                  "data::llava_json<data::single_image> or a multi-image model (docs/supported_models.md)");
    return true;
  } else if constexpr (is_collator<P>::value) {
    using C = typename P::collator_type;
    constexpr bool same = std::is_same_v<C, typename model_traits<M>::collator>;
    if constexpr (!same) {
      static_assert(same, "lmms: the collator belongs to another model family; remove collator<...> to get this "
                          "model's own (docs/recipes.md)");
      diag::collator_of_another_family<C, M> named;
    }
    return same;
  } else {
    return true;
  }
}

template <class P>
constexpr bool check_is_part() {
  if constexpr (!is_part<P>) {
    static_assert(is_part<P>, "lmms: a Recipe takes model<M>{...}, one data source, llm(...) / vision(...) / "
                              "projector(...) policies, collator<C>, a precision and train{...}; this part is "
                              "none of them (docs/recipes.md)");
    diag::not_a_recipe_part<P> named;
    return false;
  } else {
    return true;
  }
}
}  // namespace recipe_detail

template <class... Parts>
struct Recipe {
  std::tuple<Parts...> parts;

  constexpr Recipe(Parts... p) : parts(std::move(p)...) {  // NOLINT: implicit from the braces
    using namespace recipe_detail;
    (void)(true && ... && check_is_part<Parts>());
    static_assert(count<is_model, Parts...> == 1,
                  "lmms: a Recipe needs exactly one model<M>{.path = ...}; add it, or remove the extra one (docs/recipes.md)");
    static_assert(count<is_data, Parts...> <= 1, "lmms: a Recipe takes one data source; merge the files into one dataset");
    static_assert(count<is_collator, Parts...> <= 1, "lmms: a Recipe takes at most one collator<C>");
    static_assert((0 + ... + (is_precision<Parts> ? 1 : 0)) <= 1, "lmms: a Recipe takes at most one precision");
    static_assert((0 + ... + (std::is_same_v<Parts, train> ? 1 : 0)) <= 1, "lmms: a Recipe takes at most one train{...}");
    check_components<llm_t>();
    check_components<vision_t>();
    check_components<projector_t>();
    if constexpr (count<is_model, Parts...> == 1) {
      using M = typename model_of<typename first_model<void, Parts...>::type>::type;
      if constexpr (model_traits<M>::specialized) {
        (void)(true && ... && check_part<M, Parts>());
        static_assert(vision_full_with_adapter<M>() || !(is_full_vision<Parts>() || ...) || !(is_adapter_policy<Parts>() || ...),
                      "lmms: this model's vision tower has parameters outside any module, which a PEFT adapter cannot "
                      "save as modules_to_save; with lora / qlora elsewhere use vision(lora{...}) or vision(frozen), "
                      "or train every component in full (docs/recipes.md)");
      }
    }
  }

 private:
  template <class C>
  static constexpr void check_components() {
    constexpr int n = recipe_detail::policies_for<C, Parts...>;
    if constexpr (n > 1) {
      static_assert(n <= 1, "lmms: a component has two policies; give each of llm(...), vision(...) and projector(...) "
                            "at most once (docs/recipes.md)");
      diag::policy_given_twice_for<C> named;
    }
  }
};

/// The recipe's values as the runtime sees them (what --dry-run prints).
template <class... Parts>
recipe::resolved resolve(const Recipe<Parts...>& r) {
  using namespace recipe_detail;
  using M = typename model_of<typename first_model<void, Parts...>::type>::type;
  recipe::resolved out;
  out.model_type = model_traits<M>::name;
  out.train_fn = &model_traits<M>::train;
  out.policies = {{"llm", {"lora", lora{}}}};  // lmms-finetune's default: LoRA on the LLM, the rest frozen
  for (const char* c : model_traits<M>::component_names)
    if (std::string(c) != "llm") out.policies[c] = {"frozen", lora{}};
  out.collator = model_traits<M>::collator::family;
  std::apply(
      [&](const auto&... part) {
        auto take = [&](const auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (is_model<P>::value) out.model_path = p.path;
          else if constexpr (is_data<P>::value) {
            out.data = {p.file,       p.image_folder,  p.video_folder, p.eval_file, p.max_length,
                        p.on_bad_sample, p.packing, p.num_frames, p.sampler, p.max_image_pixels, p.prefetch, p.media_threads};
            out.data_media = P::media::has_video ? (P::media::has_images ? "images_and_videos" : "videos")
                                                 : (P::media::multi_image ? "images" : "single_image");
          } else if constexpr (is_policy<P>::value) {
            using Policy = typename P::policy_type;
            if constexpr (std::is_base_of_v<lora, Policy>) out.policies[P::component::name] = {Policy::kind, p.policy};
            else out.policies[P::component::name] = {Policy::kind, lora{}};
          } else if constexpr (is_precision<P>) out.precision = P::name;
          else if constexpr (std::is_same_v<P, train>) out.train = p;
        };
        (take(part), ...);
      },
      r.parts);
  return out;
}

/// Runs the recipe: applies --config FILE and --section.field=value overrides (all problems
/// reported together), --help, --dry-run; writes the resolved recipe into output_dir; trains.
template <class... Parts>
int run(const Recipe<Parts...>& r, int argc, char** argv) {
  return recipe::run_resolved(resolve(r), argc, argv);
}

}  // namespace lmms
