// Fused bias + piecewise-linear activation + gain + clamp, and its gradient, for CUDA.
//
// kind: 0 = linear, 1 = relu, 2 = leaky relu (slope alpha below zero). clamp < 0 disables
// clamping. For these activations the local derivative depends only on the output y:
// the pre-activation was positive iff y has the sign of gain, and a clamped output (|y| at the
// clamp) has derivative zero, so the backward kernel needs y but not x.
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename scalar_t>
__global__ void bias_act_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ b, scalar_t* __restrict__ y,
                                int64_t total, int64_t stride, int64_t channels, bool has_bias, int kind,
                                double alpha, double gain, double clamp) {
    using acc_t = typename Acc<scalar_t>::type;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x) {
        acc_t v = (acc_t)x[i];
        if (has_bias) v += (acc_t)b[(i / stride) % channels];
        if (kind == 1) v = v > (acc_t)0 ? v : (acc_t)0;
        else if (kind == 2) v = v > (acc_t)0 ? v : v * (acc_t)alpha;
        v *= (acc_t)gain;
        if (clamp >= 0) {
            const acc_t c = (acc_t)clamp;
            v = v > c ? c : (v < -c ? -c : v);
        }
        y[i] = (scalar_t)v;
    }
}

template <typename scalar_t>
__global__ void bias_act_grad_kernel(const scalar_t* __restrict__ dy, const scalar_t* __restrict__ y, scalar_t* __restrict__ dx,
                                     int64_t total, int kind, double alpha, double gain, double clamp) {
    using acc_t = typename Acc<scalar_t>::type;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)blockDim.x * gridDim.x) {
        const acc_t yv = (acc_t)y[i];
        acc_t g = (acc_t)gain;
        if (kind != 0) {
            const bool positive = gain >= 0 ? yv > (acc_t)0 : yv < (acc_t)0;
            if (!positive) g *= (kind == 2) ? (acc_t)alpha : (acc_t)0;
        }
        if (clamp >= 0 && (yv >= (acc_t)clamp || yv <= -(acc_t)clamp)) g = 0;
        dx[i] = (scalar_t)((acc_t)dy[i] * g);
    }
}

static int64_t grid_for(int64_t total, int threads) {
    return std::max<int64_t>(1, std::min<int64_t>((total + threads - 1) / threads, 65535LL * 8));
}

torch::Tensor bias_act_launch(torch::Tensor x, torch::Tensor b, int64_t stride, int64_t channels, int kind,
                              double alpha, double gain, double clamp) {
    const c10::cuda::OptionalCUDAGuard guard(device_of(x));
    auto y = torch::empty_like(x);
    const int64_t total = x.numel();
    if (total == 0) return y;
    const int threads = 256;
    const bool has_bias = b.numel() > 0;
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "bias_act_cuda", [&] {
        bias_act_kernel<scalar_t><<<(unsigned)grid_for(total, threads), threads, 0, stream>>>(
            x.data_ptr<scalar_t>(), has_bias ? b.data_ptr<scalar_t>() : nullptr, y.data_ptr<scalar_t>(),
            total, stride, channels, has_bias, kind, alpha, gain, clamp);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

torch::Tensor bias_act_grad_launch(torch::Tensor dy, torch::Tensor y, int kind, double alpha, double gain, double clamp) {
    const c10::cuda::OptionalCUDAGuard guard(device_of(dy));
    auto dx = torch::empty_like(dy);
    const int64_t total = dy.numel();
    if (total == 0) return dx;
    const int threads = 256;
    auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND_HALF(dy.scalar_type(), "bias_act_grad_cuda", [&] {
        bias_act_grad_kernel<scalar_t><<<(unsigned)grid_for(total, threads), threads, 0, stream>>>(
            dy.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), total, kind, alpha, gain, clamp);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return dx;
}
