"""Vectorised 1-D convolution (no padding, no dilation) with the handout's API.

Shapes follow the handout: ``x`` is ``(batch, in_channels, input_size)``, ``weight`` is
``(out_channels, in_channels, kernel_size)``, ``bias`` is ``(out_channels,)`` and the output is
``(batch, out_channels, output_size)``. Every result is float64 whatever the input dtype, so integer
inputs with fractional weights are never truncated.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def get_conv1d_output_size(input_size: int, kernel_size: int, stride: int) -> int:
    """Number of positions the kernel takes along the input: ``floor((input - kernel) / stride) + 1``."""
    if kernel_size < 1 or stride < 1:
        raise ValueError("kernel_size and stride must be positive")
    if kernel_size > input_size:
        raise ValueError(f"kernel_size {kernel_size} does not fit in input_size {input_size}")
    return (input_size - kernel_size) // stride + 1


def _windows(x: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
    """Read-only view ``(batch, in_channels, output_size, kernel_size)`` of the slices the kernel sees."""
    return sliding_window_view(x, kernel_size, axis=2)[:, :, ::stride, :]


def conv1d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """Output ``(batch, out_channels, output_size)`` of the layer, in float64."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    get_conv1d_output_size(x.shape[2], weight.shape[2], stride)  # validates the geometry
    # tensordot (a BLAS product) rather than einsum: the same sums, without einsum's path search on every call.
    out = np.tensordot(_windows(x, weight.shape[2], stride), weight, axes=([1, 3], [1, 2])).transpose(0, 2, 1)
    return out + bias[None, :, None]


def conv1d_backward(
    x: np.ndarray, weight: np.ndarray, delta: np.ndarray, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, grad_weight, grad_bias)`` for one backward pass, in float64."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    kernel_size = weight.shape[2]
    output_size = get_conv1d_output_size(x.shape[2], kernel_size, stride)
    if delta.shape != (x.shape[0], weight.shape[0], output_size):
        raise ValueError(f"delta has shape {delta.shape}, expected {(x.shape[0], weight.shape[0], output_size)}")

    grad_weight = np.tensordot(delta, _windows(x, kernel_size, stride), axes=([0, 2], [0, 2]))
    grad_bias = delta.sum(axis=(0, 2))

    # Each output position o sends delta back to inputs o*stride + j; looping over the kernel offset j
    # (not over positions) keeps the scatter vectorised while overlapping windows still accumulate.
    contributions = np.tensordot(delta, weight, axes=([1], [0])).transpose(0, 2, 1, 3)  # (b, c, o, k)
    dx = np.zeros_like(x)
    last = stride * (output_size - 1) + 1
    for j in range(kernel_size):
        dx[:, :, j : j + last : stride] += contributions[:, :, :, j]
    return dx, grad_weight, grad_bias


class Conv1d:
    """A 1-D convolutional layer with the handout's attributes and methods."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        rng = np.random.default_rng()
        self.weight = rng.normal(0.0, 1.0, (out_channels, in_channels, kernel_size))
        self.bias = np.zeros(out_channels)
        self.grad_weight = np.zeros((out_channels, in_channels, kernel_size))
        self.grad_bias = np.zeros(out_channels)
        self.x: np.ndarray | None = None
        self.output_size: int | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = np.asarray(x)
        self.output_size = get_conv1d_output_size(self.x.shape[2], self.kernel_size, self.stride)
        return conv1d_forward(self.x, self.weight, self.bias, self.stride)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        if self.x is None:
            raise RuntimeError("backward called before forward")
        dx, grad_weight, grad_bias = conv1d_backward(self.x, self.weight, delta, self.stride)
        # Gradients accumulate across calls, as the handout's `+=` does.
        self.grad_weight = self.grad_weight + grad_weight
        self.grad_bias = self.grad_bias + grad_bias
        return dx
