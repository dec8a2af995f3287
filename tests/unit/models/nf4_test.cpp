// NF4 + double quantization against bitsandbytes, bit for bit (tests/reference/families/nf4.py).
#include <cstring>

#include "lmms/io/safetensors_torch.hpp"
#include "lmms/nn/nf4.hpp"
#include "support/test.hpp"

namespace {
bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.contiguous(), y = b.contiguous();
  return x.scalar_type() == y.scalar_type() && x.numel() == y.numel() &&
         std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}
}  // namespace

CATCH_TEST_CASE("NF4 quantize / dequantize equal bitsandbytes bit for bit", "[nn][nf4][reference]") {
  auto ref = lmms::io::load_safetensors(lmms::test::reference_dir() / "outputs" / "nf4.safetensors");
  CATCH_CHECK(same_bytes(lmms::nn::dynamic_map_signed(), ref.at("linear.code2")));
  for (const char* name : {"linear", "wide", "odd", "many_blocks", "zeros"}) {
    CATCH_DYNAMIC_SECTION(name) {
      const std::string n = name;
      auto q = lmms::nn::nf4_quantize(ref.at(n + ".weight"));
      CATCH_CHECK(same_bytes(q.packed.reshape({-1}), ref.at(n + ".packed").reshape({-1})));
      CATCH_CHECK(same_bytes(q.absmax, ref.at(n + ".absmax")));
      CATCH_CHECK(same_bytes(q.absmax2, ref.at(n + ".absmax2")));
      CATCH_CHECK(static_cast<float>(q.offset) == ref.at(n + ".offset").item<float>());
      auto d = lmms::nn::nf4_dequantize(q);
      CATCH_CHECK(same_bytes(d, ref.at(n + ".dequantized").contiguous()));
      // and quantization error stays within the NF4 grid spacing
      CATCH_CHECK((d - ref.at(n + ".weight")).abs().max().item<double>() <=
                  0.2 * ref.at(n + ".weight").abs().max().item<double>() + 1e-6);
    }
  }
}
