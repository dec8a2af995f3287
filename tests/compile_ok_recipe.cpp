// A valid recipe must compile (the compile-fail checks must not reject good recipes).
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() {
  auto r = Recipe{train{.lr = 1e-4}, llm(lora{.rank = 4}), vision(lora{.rank = 4}), projector(full),
                  data::llava_json{.file = "t.json"}, model<llava_1_5>{.path = "m"}, precision::bf16{},
                  collator<collators::llava>{}};
  (void)r;
}
