// Multi-image data on a model that takes one image per sample.
// expect: lmms: the data has several images per sample but this model takes one
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
// a user model declared the documented way
struct one_image_vlm {};
template <> struct lmms::model_traits<one_image_vlm> {
  static constexpr bool specialized = true;
  static constexpr const char* name = "one_image_vlm";
  using components = type_list<llm_t, vision_t>;
  static constexpr const char* component_names[] = {"llm", "vision"};
  using collator = collators::llava;
  static constexpr bool images = true, multi_image = false, video = false;
  static constexpr bool vision_lora = true;
  static int train(const recipe::resolved&) { return 0; }
};
int main() { auto r = Recipe{model<one_image_vlm>{.path = "m"}, data::llava_json<data::images>{.file = "t.json"}}; }
