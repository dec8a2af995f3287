// Two policies for the language model.
// expect: lmms: a component has two policies
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<llava_1_5>{.path = "m"}, data::llava_json{.file = "train.json"}, llm(lora{.rank = 8}), llm(full)}; }
