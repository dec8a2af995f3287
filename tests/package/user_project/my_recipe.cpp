// A user recipe compiled with lmms_add_recipe(); it writes a checkpoint and reads it back.
#include <cstdio>

#include <lmms/lmms.hpp>

int main(int argc, char** argv) try {
  using namespace lmms;
  const std::filesystem::path out = argc > 1 ? argv[1] : "my_output";
  at::Tensor w = at::arange(6, at::kFloat).reshape({2, 3});
  io::save_sharded_safetensors(out, {{"w", w}});
  auto back = io::load_safetensors(out).at("w");
  std::printf("user recipe ok: %s, equal=%d, lmms %s\n", out.c_str(), int(back.equal(w)), version);
  return back.equal(w) ? 0 : 1;
} catch (const lmms::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
