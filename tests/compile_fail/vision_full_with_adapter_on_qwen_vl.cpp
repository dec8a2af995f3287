// vision(full) next to LoRA on Qwen-VL-Chat, whose tower has parameters outside any module.
// expect: lmms: this model's vision tower has parameters outside any module
#include <lmms/models/qwen_vl/recipe.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<qwen_vl_chat>{.path = "m"}, data::llava_json{.file = "train.json"}, llm(lora{}), vision(full)}; }
