// Something that is not a recipe part (a bare number where train{...} belongs).
// expect: lmms: a Recipe takes model<M>{...}, one data source
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<llava_1_5>{.path = "m"}, data::llava_json{.file = "train.json"}, 3e-4}; }
