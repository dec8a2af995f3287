// A recipe without a model.
// expect: lmms: a Recipe needs exactly one model<M>
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{data::llava_json{.file = "train.json"}, llm(lora{})}; }
