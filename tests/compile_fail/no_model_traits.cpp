// A model type without model_traits (its header not included).
// expect: lmms: this model type has no model_traits specialization
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
struct my_vlm {};
int main() { auto r = Recipe{model<my_vlm>{.path = "m"}, data::llava_json{.file = "train.json"}}; }
