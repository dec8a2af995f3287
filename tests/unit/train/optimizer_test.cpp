// lmms's fused AdamW and gradient clipping against libtorch's torch::optim::AdamW and a
// plain-arithmetic global norm: same parameters after several steps with weight decay, a
// skipped (grad-less) parameter, and a state round trip (resume).
#include <torch/optim/adamw.h>

#include "lmms/train/optimizer.hpp"
#include "support/test.hpp"

using namespace lmms;

CATCH_TEST_CASE("fused AdamW matches torch::optim::AdamW; clip_grad_norm matches the plain norm", "[train][optimizer]") {
  at::manual_seed(3);
  std::vector<at::Tensor> mine, theirs;
  for (auto shape : {std::vector<std::int64_t>{7, 5}, {5}, {3, 2, 4}}) {
    at::Tensor init = at::randn(shape);
    mine.push_back(init.clone().set_requires_grad(true));
    theirs.push_back(init.clone().set_requires_grad(true));
  }
  training::adamw opt({{{mine[0], mine[2]}, 0.1}, {{mine[1]}, 0.0}});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{theirs[0], theirs[2]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-2).weight_decay(0.1)));
  groups.emplace_back(std::vector<at::Tensor>{theirs[1]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-2).weight_decay(0.0)));
  torch::optim::AdamW ref(groups, torch::optim::AdamWOptions(1e-2));
  for (int step = 0; step < 5; ++step) {
    at::Tensor g0 = at::randn({7, 5}), g1 = at::randn({5}), g2 = at::randn({3, 2, 4});
    mine[0].mutable_grad() = g0.clone(), theirs[0].mutable_grad() = g0.clone();
    if (step != 2) mine[1].mutable_grad() = g1.clone(), theirs[1].mutable_grad() = g1.clone();  // step 2: no grad
    mine[2].mutable_grad() = g2.clone() * 10, theirs[2].mutable_grad() = g2.clone() * 10;
    const double plain = std::sqrt((theirs[0].grad().pow(2).sum() + (step != 2 ? theirs[1].grad().pow(2).sum() : at::zeros({})) +
                                    theirs[2].grad().pow(2).sum()).item<double>());
    const double norm = training::clip_grad_norm(mine, 1.0);
    CATCH_CHECK(std::abs(norm - plain) < 1e-4 * plain);
    for (auto& p : theirs)
      if (p.grad().defined()) p.mutable_grad().mul_(1.0 / (plain + 1e-6));
    opt.step(1e-2);
    ref.step();
    opt.zero_grad();
    ref.zero_grad();
  }
  for (std::size_t i = 0; i < mine.size(); ++i) {
    CATCH_INFO("parameter " << i);
    CATCH_CHECK((mine[i] - theirs[i]).abs().max().item<double>() < 1e-6);
  }
  // the state round-trips (what a resumed run loads)
  const auto* s = opt.state_of(mine[0]);
  CATCH_REQUIRE(s != nullptr);
  CATCH_CHECK(s->step.item<float>() == 5.0f);
  CATCH_CHECK(opt.state_of(mine[1])->step.item<float>() == 4.0f);  // skipped once
  training::adamw again({{{mine[0]}, 0.1}});
  again.set_state(mine[0], s->exp_avg, s->exp_avg_sq, 5);
  CATCH_CHECK(at::equal(again.state_of(mine[0])->exp_avg, s->exp_avg));
}

CATCH_TEST_CASE("the fp16 loss scale follows torch.amp.GradScaler's rules", "[train][optimizer][fp16]") {
  lmms::training::loss_scaler s;  // GradScaler(): init 2**16, growth 2, backoff 0.5, interval 2000
  CATCH_CHECK(s.scale == 65536.0);
  s.update(true);  // inf found: halve, reset the run of good steps
  CATCH_CHECK(s.scale == 32768.0);
  CATCH_CHECK(s.growth_tracker == 0);
  for (int i = 0; i < 1999; ++i) s.update(false);
  CATCH_CHECK(s.scale == 32768.0);
  CATCH_CHECK(s.growth_tracker == 1999);
  s.update(false);  // the 2000th good step in a row doubles it
  CATCH_CHECK(s.scale == 65536.0);
  CATCH_CHECK(s.growth_tracker == 0);
  for (int i = 0; i < 10; ++i) s.update(false);
  s.update(true);  // a skip in between starts the count again
  CATCH_CHECK(s.scale == 32768.0);
  CATCH_CHECK(s.growth_tracker == 0);
  // unscale divides the gradients by the scale (in float32, GradScaler's inv_scale)
  at::Tensor p = at::ones({3}).set_requires_grad(true);
  p.mutable_grad() = at::full({3}, 1024.0f);
  s.scale = 512.0;
  s.unscale({p});
  CATCH_CHECK(p.grad().allclose(at::full({3}, 2.0f)));
}
