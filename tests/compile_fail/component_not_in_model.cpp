// A policy for a component the model does not have (a text-only model has no projector).
// expect: lmms: the recipe gives a policy to a component this model does not have
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
// a user model declared the documented way
struct text_only_lm {};
template <> struct lmms::model_traits<text_only_lm> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "text_only_lm";
  using components = type_list<llm_t>;
  static constexpr const char* component_names[] = {"llm"};
  using collator = collators::llava;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = false;
  static int train(const recipe::resolved&) { return 0; }
};
int main() { auto r = Recipe{model<text_only_lm>{.path = "m"}, data::llava_json{.file = "train.json"}, projector(full)}; }
