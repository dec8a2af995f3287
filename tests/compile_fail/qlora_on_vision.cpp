// QLoRA on the vision tower.
// expect: lmms: qlora is for the language model only
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<llava_1_5>{.path = "m"}, data::llava_json{.file = "train.json"}, vision(qlora{})}; }
