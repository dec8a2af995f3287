// Vision LoRA on a tower that has no Linear layers to adapt.
// expect: lmms: this model's vision tower has no Linear layers for LoRA
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
// a user model declared the documented way
struct conv_tower_vlm {};
template <> struct lmms::model_traits<conv_tower_vlm> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "conv_tower_vlm";
  using components = type_list<llm_t, vision_t>;
  static constexpr const char* component_names[] = {"llm", "vision"};
  using collator = collators::llava;
  static constexpr bool images = true, multi_image = true, video = false;
  static constexpr bool vision_lora = false;
  static int train(const recipe::resolved&) { return 0; }
};
int main() { auto r = Recipe{model<conv_tower_vlm>{.path = "m"}, data::llava_json{.file = "train.json"}, vision(lora{.rank = 8})}; }
