// lmms/processors/qwen_vl.hpp: Qwen-VL-Chat's image transform (the remote code's
// VisionTransformer.image_transform), pixel for pixel: PIL resize of the RGB image to
// image_size x image_size (bicubic, torchvision's Resize on a PIL image, aspect ratio not kept),
// then ToTensor (uint8 / 255) and Normalize with OpenAI CLIP's mean and std, in float32.
//
//   at::Tensor pixels = processors::qwen_vl_preprocess(media::load_image(file), 448);  // (3, 448, 448)
#pragma once

#include "lmms/media/image.hpp"
#include "lmms/torch.hpp"

namespace lmms::processors {

at::Tensor qwen_vl_preprocess(const media::rgb_image& image, int image_size);

}  // namespace lmms::processors

#ifdef LMMS_IMPLEMENTATION
#include "lmms/core/error.hpp"
#include "lmms/media/resize.hpp"

namespace lmms::processors {

at::Tensor qwen_vl_preprocess(const media::rgb_image& image, int image_size) {
  if (image.width < 1 || image.height < 1) fail("an image of ", image.width, "x", image.height, " pixels has nothing to resize");
  media::rgb_image resized = media::resize(image, image_size, image_size, media::resample::bicubic);
  at::Tensor hwc = at::from_blob(resized.data.data(), {image_size, image_size, 3}, at::kByte);
  at::Tensor t = hwc.permute({2, 0, 1}).to(at::kFloat).div(255);  // ToTensor
  at::Tensor mean = at::tensor({0.48145466f, 0.4578275f, 0.40821073f}, at::kFloat).view({3, 1, 1});
  at::Tensor std = at::tensor({0.26862954f, 0.26130258f, 0.27577711f}, at::kFloat).view({3, 1, 1});
  return ((t - mean) / std).contiguous();
}

}  // namespace lmms::processors
#endif
