// Python binding and argument checks for the fused upfirdn2d kernel (see upfirdn2d.cu).
#include <torch/extension.h>

torch::Tensor upfirdn2d_launch(torch::Tensor x, torch::Tensor f, int upx, int upy, int downx, int downy,
                               int padx0, int padx1, int pady0, int pady1, bool flip, double gain);

static torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int upx, int upy, int downx, int downy,
                               int padx0, int padx1, int pady0, int pady1, bool flip, double gain) {
    TORCH_CHECK(x.is_cuda(), "upfirdn2d: x must be a CUDA tensor");
    TORCH_CHECK(f.is_cuda() && f.device() == x.device(), "upfirdn2d: f must be on the same CUDA device as x");
    TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be [N, C, H, W]");
    TORCH_CHECK(f.dim() == 2 && f.scalar_type() == torch::kFloat, "upfirdn2d: f must be a 2-D float32 tensor");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: factors must be >= 1");
    TORCH_CHECK(x.numel() < (int64_t(1) << 31) * 64, "upfirdn2d: input too large");
    return upfirdn2d_launch(x.contiguous(), f.contiguous(), upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip, gain);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "upsample, pad, FIR filter, downsample (CUDA)");
}
