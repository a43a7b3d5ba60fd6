// Python binding and argument checks for the fused bias + activation kernels (see bias_act.cu).
#include <torch/extension.h>

torch::Tensor bias_act_launch(torch::Tensor x, torch::Tensor b, int64_t stride, int64_t channels, int kind,
                              double alpha, double gain, double clamp);
torch::Tensor bias_act_grad_launch(torch::Tensor dy, torch::Tensor y, int kind, double alpha, double gain, double clamp);

static torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, int64_t stride, int64_t channels, int kind,
                              double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda() && x.is_contiguous(), "bias_act: x must be a contiguous CUDA tensor");
    TORCH_CHECK(b.numel() == 0 || (b.is_cuda() && b.device() == x.device() && b.scalar_type() == x.scalar_type() && b.numel() == channels),
                "bias_act: b must be empty or a [channels] tensor of x's dtype on x's device");
    TORCH_CHECK(kind >= 0 && kind <= 2, "bias_act: unknown activation kind");
    return bias_act_launch(x, b.contiguous(), stride, channels, kind, alpha, gain, clamp);
}

static torch::Tensor bias_act_grad(torch::Tensor dy, torch::Tensor y, int kind, double alpha, double gain, double clamp) {
    TORCH_CHECK(dy.is_cuda() && y.is_cuda() && dy.device() == y.device(), "bias_act_grad: tensors must be on one CUDA device");
    TORCH_CHECK(dy.sizes() == y.sizes() && dy.scalar_type() == y.scalar_type(), "bias_act_grad: dy and y must match");
    TORCH_CHECK(kind >= 0 && kind <= 2, "bias_act_grad: unknown activation kind");
    return bias_act_grad_launch(dy.contiguous(), y.contiguous(), kind, alpha, gain, clamp);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "y = clamp(gain * act(x + b)) (CUDA)");
    m.def("bias_act_grad", &bias_act_grad, "dx = dy * dy/dx evaluated from y (CUDA)");
}
