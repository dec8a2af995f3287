// Video data on an image-only model (LLaVA-1.5).
// expect: lmms: the data has videos but this model takes images only
#include <lmms/models/llava/llava_1_5.hpp>
#include <lmms/recipe/recipe.hpp>
using namespace lmms;
int main() { auto r = Recipe{model<llava_1_5>{.path = "m"}, data::llava_json<data::videos>{.file = "v.json"}}; }
