// Qwen2-VL's collator on a LLaVA model.
// expect: lmms: the collator belongs to another model family
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<llava_1_5>{.path = "m"}, data::llava_json{.file = "train.json"}, collator<collators::qwen2_vl>{}}; }
