"""The reference ``Conv1d`` against the handout's printed answers, torch, naive loops and finite differences.

Every expected value grades students, so the reference is checked against sources that share no code with
it: numbers copied from the handout, ``torch.nn.functional.conv1d`` with autograd, a plain loop
implementation written here, and central differences.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pytest

from reference import Conv1d, conv1d_backward, conv1d_forward, get_conv1d_output_size

# --- independent naive implementation -------------------------------------------------------------------


def naive_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """The convolution as the definition reads, one scalar product at a time."""
    batch, in_channels, input_size = x.shape
    out_channels, _, kernel_size = weight.shape
    output_size = (input_size - kernel_size) // stride + 1
    out = np.zeros((batch, out_channels, output_size))
    for n in range(batch):
        for o in range(out_channels):
            for i in range(output_size):
                total = float(bias[o])
                for c in range(in_channels):
                    for j in range(kernel_size):
                        total += float(weight[o, c, j]) * float(x[n, c, i * stride + j])
                out[n, o, i] = total
    return out


def naive_backward(
    x: np.ndarray, weight: np.ndarray, delta: np.ndarray, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each output element sends its delta back along exactly the products that formed it."""
    batch, in_channels, _ = x.shape
    out_channels, _, kernel_size = weight.shape
    dx = np.zeros(x.shape)
    grad_weight = np.zeros(weight.shape)
    grad_bias = np.zeros(out_channels)
    for n in range(batch):
        for o in range(out_channels):
            for i in range(delta.shape[2]):
                d = float(delta[n, o, i])
                grad_bias[o] += d
                for c in range(in_channels):
                    for j in range(kernel_size):
                        dx[n, c, i * stride + j] += d * float(weight[o, c, j])
                        grad_weight[o, c, j] += d * float(x[n, c, i * stride + j])
    return dx, grad_weight, grad_bias


# --- the handout's six visible cases (parameters from course-tests.md) ----------------------------------


@dataclass(frozen=True)
class HandoutCase:
    layer: tuple[int, int, int, int]
    weight: np.ndarray
    bias: np.ndarray
    x: np.ndarray
    delta: np.ndarray

    def layer_with_forward(self) -> Conv1d:
        layer = Conv1d(*self.layer)
        layer.weight = self.weight
        layer.bias = self.bias
        layer.forward(self.x)
        return layer


def _case_1() -> HandoutCase:
    return HandoutCase(
        (2, 3, 2, 1),
        weight=np.array([[[0, 1], [2, 3]], [[4, 2], [-2, -4]], [[3, -4], [5, 2]]]),
        bias=np.array([0, 1, 2]),
        x=np.array([[[0, 1, -3, -1], [-2, 3, -2, 1]], [[4, 5, -2, 3], [2, -1, -4, 7]]]),
        delta=np.array([[[2, -1, -1], [2, -2, 3], [2, 2, 1]], [[0, 0, -3], [2, 7, -1], [8, 7, 2]]]),
    )


def _case_2(dtype: type | None = None) -> HandoutCase:
    # The course's backward case 2 uses float32 for every array; its forward case uses integers.
    return HandoutCase(
        (3, 5, 8, 1),
        weight=np.arange(120).reshape(5, 3, 8).astype(dtype or np.int64),
        bias=np.arange(5).astype(dtype or np.int64),
        x=np.arange(72).reshape(3, 3, 8).astype(dtype or np.int64),
        delta=np.arange(15).reshape(3, 5, 1).astype(dtype or np.int64),
    )


def _case_3(dtype: type | None = None) -> HandoutCase:
    # The course's backward case 3 uses float32 for x and delta only; the weights are halves either way.
    return HandoutCase(
        (5, 3, 1, 1),
        weight=np.arange(-7.5, 7.5, 1).reshape(3, 5, 1),
        bias=np.arange(3),
        x=np.arange(100).reshape(4, 5, 5).astype(dtype or np.int64),
        delta=np.arange(60).reshape(4, 3, 5).astype(dtype or np.int64),
    )


FORWARD_CASES = {"case-1": _case_1(), "case-2": _case_2(), "case-3": _case_3()}
BACKWARD_CASES = {"case-1": _case_1(), "case-2": _case_2(np.float32), "case-3": _case_3(np.float32)}

# The handout's printed answers, copied digit for digit.
PRINTED_FORWARD = {
    "case-1": [[[6, -3, -2],
                [-5, 1, -13],
                [-6, 28, -11]],
               [[6, -16, 16],
                [27, 35, -21],
                [2, 12, -22]]],
    "case-2": [[[4324], [10949], [17574], [24199], [30824]],
               [[10948], [31397], [51846], [72295], [92744]],
               [[17572], [51845], [86118], [120391], [154664]]],
    "case-3": [[[-225, -252.5, -280, -307.5, -335],
                [26, 23.5, 21, 18.5, 16],
                [277, 299.5, 322, 344.5, 367]],
               [[-912.5, -940, -967.5, -995, -1022.5],
                [-36.5, -39, -41.5, -44, -46.5],
                [839.5, 862, 884.5, 907, 929.5]],
               [[-1600, -1627.5, -1655, -1682.5, -1710],
                [-99, -101.5, -104, -106.5, -109],
                [1402, 1424.5, 1447, 1469.5, 1492]],
               [[-2287.5, -2315, -2342.5, -2370, -2397.5],
                [-161.5, -164, -166.5, -169, -171.5],
                [1964.5, 1987, 2009.5, 2032, 2054.5]]],
}
PRINTED_BACKWARD_1 = {
    "dx": [[[14, -4, 2, 1],
            [10, 14, 6, -13]],
           [[32, 21, -12, -13],
            [36, 29, -8, -1]]],
    "grad_weight": [[[8, -3], [7, -14]],
                    [[34, -2], [-15, -24]],
                    [[62, 27], [1, -19]]],
    "grad_bias": [-3, 11, 22],
}
PRINTED_BACKWARD_2_DX = [[[720, 730, 740, 750, 760, 770, 780, 790],
                          [800, 810, 820, 830, 840, 850, 860, 870],
                          [880, 890, 900, 910, 920, 930, 940, 950]],
                         [[1920, 1955, 1990, 2025, 2060, 2095, 2130, 2165],
                          [2200, 2235, 2270, 2305, 2340, 2375, 2410, 2445],
                          [2480, 2515, 2550, 2585, 2620, 2655, 2690, 2725]],
                         [[3120, 3180, 3240, 3300, 3360, 3420, 3480, 3540],
                          [3600, 3660, 3720, 3780, 3840, 3900, 3960, 4020],
                          [4080, 4140, 4200, 4260, 4320, 4380, 4440, 4500]]]
# The handout cuts the printout of these two mid-array: the values it shows, in C order.
PRINTED_BACKWARD_2_GRAD_WEIGHT_START = [
    600, 615, 630, 645, 660, 675, 690, 705,
    720, 735, 750, 765, 780, 795, 810, 825,
    840, 855, 870, 885, 900, 915, 930, 945,
    672, 690, 708, 726, 744, 762, 780, 798,
    816, 834, 852, 870, 888, 906, 924, 942,
    960, 978, 996, 1014, 1032, 1050,
]
PRINTED_BACKWARD_3_DX_START = [
    12.5, 5, -2.5, -10, -17.5, 27.5, 23, 18.5, 14, 9.5, 42.5, 41, 39.5, 38, 36.5,
    57.5, 59, 60.5, 62, 63.5, 72.5, 77, 81.5, 86, 90.5,
    -100, -107.5, -115, -122.5, -130, -40, -44.5, -49, -53.5, -58, 20, 18.5, 17, 15.5, 14,
    80, 81.5, 83, 84.5, 86, 140, 144.5, 149, 153.5, 158,
    -212.5, -220, -227.5, -235, -242.5, -107.5, -112, -116.5, -121, -125.5, -2.5, -4, -5.5, -7, -8.5,
    102.5, 104, 105.5, 107, 108.5, 207.5, 212, 216.5, 221, 225.5,
    -325, -332.5, -340, -347.5, -355, -175, -179.5, -184, -188.5, -193, -25, -26.5, -28, -29.5, -31,
    125, 126.5, 128, 129.5, 131, 275,
]


def assert_exactly(actual: np.ndarray, expected: object) -> None:
    """Same shape and the same values to the last bit (dtype aside: the handout prints some as int)."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def assert_starts_with(actual: np.ndarray, printed_start: list[float]) -> None:
    np.testing.assert_array_equal(actual.ravel()[: len(printed_start)], printed_start)


@pytest.mark.parametrize("name", FORWARD_CASES)
def test_forward_reproduces_the_handout_answer(name: str) -> None:
    case = FORWARD_CASES[name]
    layer = Conv1d(*case.layer)
    layer.weight, layer.bias = case.weight, case.bias
    assert_exactly(layer.forward(case.x), PRINTED_FORWARD[name])


def test_backward_reproduces_the_handout_answer_for_case_1() -> None:
    layer = BACKWARD_CASES["case-1"].layer_with_forward()
    dx = layer.backward(BACKWARD_CASES["case-1"].delta)
    assert_exactly(dx, PRINTED_BACKWARD_1["dx"])
    assert_exactly(layer.grad_weight, PRINTED_BACKWARD_1["grad_weight"])
    assert_exactly(layer.grad_bias, PRINTED_BACKWARD_1["grad_bias"])


def test_backward_reproduces_the_printed_part_of_the_handout_answer_for_case_2() -> None:
    layer = BACKWARD_CASES["case-2"].layer_with_forward()
    dx = layer.backward(BACKWARD_CASES["case-2"].delta)
    assert_exactly(dx, PRINTED_BACKWARD_2_DX)
    assert_starts_with(layer.grad_weight, PRINTED_BACKWARD_2_GRAD_WEIGHT_START)


def test_backward_reproduces_the_printed_part_of_the_handout_answer_for_case_3() -> None:
    layer = BACKWARD_CASES["case-3"].layer_with_forward()
    assert_starts_with(layer.backward(BACKWARD_CASES["case-3"].delta), PRINTED_BACKWARD_3_DX_START)


@pytest.mark.parametrize("name", BACKWARD_CASES)
def test_backward_matches_naive_loops_on_the_handout_cases(name: str) -> None:
    # Covers what the handout's printout leaves out (grad_bias of cases 2 and 3, the rest of the arrays).
    case = BACKWARD_CASES[name]
    layer = case.layer_with_forward()
    dx = layer.backward(case.delta)
    expected = naive_backward(case.x, case.weight, case.delta, case.layer[3])
    for actual, wanted in zip((dx, layer.grad_weight, layer.grad_bias), expected, strict=True):
        assert_exactly(actual, wanted)


@pytest.mark.parametrize("name", ["case-2", "case-3"])
def test_naive_loops_agree_with_the_printed_parts_they_fill_in(name: str) -> None:
    # Guards the oracle of the previous test: it must reproduce what the handout does show.
    case = BACKWARD_CASES[name]
    dx, grad_weight, _ = naive_backward(case.x, case.weight, case.delta, case.layer[3])
    if name == "case-2":
        assert_exactly(dx, PRINTED_BACKWARD_2_DX)
        assert_starts_with(grad_weight, PRINTED_BACKWARD_2_GRAD_WEIGHT_START)
    else:
        assert_starts_with(dx, PRINTED_BACKWARD_3_DX_START)


# --- random configurations against torch ----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    input_size: int
    seed: int

    @property
    def id(self) -> str:
        return (
            f"b{self.batch}-in{self.in_channels}-out{self.out_channels}-k{self.kernel_size}"
            f"-s{self.stride}-L{self.input_size}"
        )

    def arrays(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        output_size = (self.input_size - self.kernel_size) // self.stride + 1
        return {
            "weight": rng.standard_normal((self.out_channels, self.in_channels, self.kernel_size)),
            "bias": rng.standard_normal(self.out_channels),
            "x": rng.standard_normal((self.batch, self.in_channels, self.input_size)),
            "delta": rng.standard_normal((self.batch, self.out_channels, output_size)),
        }


def _random_configs(count: int, seed: int) -> list[Config]:
    """Shapes cycling through four geometries so each edge is well represented."""
    rng = np.random.default_rng(seed)
    configs = []
    for index in range(count):
        kernel_size = int(rng.integers(1, 8))
        geometry = index % 4
        if geometry == 0:  # anything, stride one included
            stride = int(rng.integers(1, 5))
            input_size = kernel_size + int(rng.integers(0, 20))
        elif geometry == 1:  # stride above the kernel: some inputs are never read
            stride = kernel_size + int(rng.integers(1, 4))
            input_size = kernel_size + int(rng.integers(0, 25))
        elif geometry == 2:  # kernel as long as the input: a single output position
            stride = int(rng.integers(1, 6))
            input_size = kernel_size
        else:  # stride above one, often not dividing input_size - kernel_size
            stride = int(rng.integers(2, 7))
            input_size = kernel_size + int(rng.integers(1, 30))
        configs.append(
            Config(
                batch=int(rng.integers(1, 5)),
                in_channels=int(rng.integers(1, 5)),
                out_channels=int(rng.integers(1, 5)),
                kernel_size=kernel_size,
                stride=stride,
                input_size=input_size,
                seed=int(rng.integers(2**31)),
            )
        )
    return configs


RANDOM_CONFIGS = _random_configs(240, seed=20261124)
RTOL, ATOL = 1e-12, 1e-12


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    # CI installs torch: a missing torch there must fail the run, not skip the comparison.
    if os.environ.get("CI"):
        return importlib.import_module("torch")
    return pytest.importorskip("torch")


def test_random_configurations_cover_the_edge_geometries() -> None:
    assert len(RANDOM_CONFIGS) >= 200
    assert len({c.id for c in RANDOM_CONFIGS}) >= 200
    assert sum(c.stride > 1 for c in RANDOM_CONFIGS) >= 120
    assert sum(c.stride > c.kernel_size for c in RANDOM_CONFIGS) >= 60
    assert sum(c.kernel_size == c.input_size for c in RANDOM_CONFIGS) >= 60
    assert sum((c.input_size - c.kernel_size) % c.stride != 0 for c in RANDOM_CONFIGS) >= 60
    assert sum(c.batch == 1 or c.in_channels == 1 or c.out_channels == 1 for c in RANDOM_CONFIGS) >= 20


@pytest.mark.parametrize("config", RANDOM_CONFIGS, ids=lambda c: c.id)
def test_forward_matches_torch(config: Config, torch: ModuleType) -> None:
    a = config.arrays()
    expected = torch.nn.functional.conv1d(
        torch.from_numpy(a["x"]), torch.from_numpy(a["weight"]), torch.from_numpy(a["bias"]), stride=config.stride
    ).numpy()
    layer = Conv1d(config.in_channels, config.out_channels, config.kernel_size, config.stride)
    layer.weight, layer.bias = a["weight"], a["bias"]
    actual = layer.forward(a["x"])
    assert actual.shape == expected.shape
    assert layer.output_size == expected.shape[2]
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("config", RANDOM_CONFIGS, ids=lambda c: c.id)
def test_backward_matches_torch_autograd(config: Config, torch: ModuleType) -> None:
    a = config.arrays()
    x, weight, bias = (torch.tensor(a[k], requires_grad=True) for k in ("x", "weight", "bias"))
    torch.nn.functional.conv1d(x, weight, bias, stride=config.stride).backward(torch.from_numpy(a["delta"]))

    layer = Conv1d(config.in_channels, config.out_channels, config.kernel_size, config.stride)
    layer.weight, layer.bias = a["weight"], a["bias"]
    layer.forward(a["x"])
    dx = layer.backward(a["delta"])
    for actual, tensor in ((dx, x), (layer.grad_weight, weight), (layer.grad_bias, bias)):
        assert actual.shape == tuple(tensor.shape)
        np.testing.assert_allclose(actual, tensor.grad.numpy(), rtol=RTOL, atol=ATOL)


# --- finite differences ---------------------------------------------------------------------------------

FD_CONFIGS = [
    Config(batch=2, in_channels=3, out_channels=2, kernel_size=3, stride=1, input_size=7, seed=1),
    Config(batch=1, in_channels=2, out_channels=3, kernel_size=2, stride=3, input_size=9, seed=2),
    Config(batch=3, in_channels=1, out_channels=2, kernel_size=4, stride=2, input_size=11, seed=3),
    Config(batch=2, in_channels=2, out_channels=1, kernel_size=5, stride=4, input_size=5, seed=4),
]


def central_difference(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Numerical gradient of ``f`` with respect to ``array``, perturbing it in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        up = f()
        array[index] = saved - eps
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("config", FD_CONFIGS, ids=lambda c: c.id)
def test_gradients_match_finite_differences(config: Config) -> None:
    a = config.arrays()
    # A random linear functional of the output: its gradient with respect to the output is `delta`.
    probe = a["delta"]

    def loss() -> float:
        return float(np.sum(probe * conv1d_forward(a["x"], a["weight"], a["bias"], config.stride)))

    dx, grad_weight, grad_bias = conv1d_backward(a["x"], a["weight"], probe, config.stride)
    for analytic, name in ((dx, "x"), (grad_weight, "weight"), (grad_bias, "bias")):
        np.testing.assert_allclose(analytic, central_difference(loss, a[name]), rtol=1e-6, atol=1e-7)


# --- output size, errors and accumulation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_size", "kernel_size", "stride", "expected"),
    [
        (4, 2, 1, 3),
        (8, 8, 1, 1),
        (5, 1, 1, 5),
        (10, 3, 2, 4),
        (13, 2, 3, 4),
        (6, 6, 4, 1),
        (9, 4, 5, 2),
        (100, 5, 7, 14),
        (7, 2, 10, 1),
        (250, 7, 3, 82),
    ],
    ids=lambda v: str(v),
)
def test_output_size_follows_the_floor_formula(input_size: int, kernel_size: int, stride: int, expected: int) -> None:
    size = get_conv1d_output_size(input_size, kernel_size, stride)
    assert size == expected
    assert isinstance(size, int)


@pytest.mark.parametrize(
    ("input_size", "kernel_size", "stride"),
    [(4, 5, 1), (3, 0, 1), (3, 2, 0), (3, 2, -1), (3, -1, 1)],
    ids=["kernel-longer-than-input", "kernel-zero", "stride-zero", "stride-negative", "kernel-negative"],
)
def test_output_size_rejects_impossible_geometry(input_size: int, kernel_size: int, stride: int) -> None:
    with pytest.raises(ValueError):
        get_conv1d_output_size(input_size, kernel_size, stride)


def test_forward_rejects_a_kernel_longer_than_the_input() -> None:
    layer = Conv1d(1, 1, 4)
    with pytest.raises(ValueError, match="does not fit"):
        layer.forward(np.zeros((1, 1, 3)))


def test_backward_rejects_a_delta_of_the_wrong_shape() -> None:
    layer = BACKWARD_CASES["case-1"].layer_with_forward()
    with pytest.raises(ValueError, match="delta has shape"):
        layer.backward(np.zeros((2, 3, 4)))


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError):
        Conv1d(2, 3, 2).backward(np.zeros((1, 3, 1)))


def test_backward_accumulates_gradients_across_calls() -> None:
    config = Config(batch=2, in_channels=3, out_channels=2, kernel_size=3, stride=2, input_size=10, seed=7)
    a = config.arrays()
    second_delta = np.random.default_rng(8).standard_normal(a["delta"].shape)
    layer = Conv1d(config.in_channels, config.out_channels, config.kernel_size, config.stride)
    layer.weight, layer.bias = a["weight"], a["bias"]
    layer.forward(a["x"])

    layer.backward(a["delta"])
    dx = layer.backward(second_delta)

    first = naive_backward(a["x"], a["weight"], a["delta"], config.stride)
    second = naive_backward(a["x"], a["weight"], second_delta, config.stride)
    np.testing.assert_allclose(dx, second[0], rtol=1e-12, atol=1e-12)  # dx is per call, never summed
    np.testing.assert_allclose(layer.grad_weight, first[1] + second[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grad_bias, first[2] + second[2], rtol=1e-12, atol=1e-12)


def test_results_are_float64_whatever_the_input_dtype() -> None:
    # Integer input with half-integer weights must not be truncated (handout forward case 3).
    case = FORWARD_CASES["case-3"]
    assert conv1d_forward(case.x, case.weight, case.bias).dtype == np.float64
    backward_case = BACKWARD_CASES["case-2"]
    grads = conv1d_backward(backward_case.x, backward_case.weight, backward_case.delta)
    assert [g.dtype for g in grads] == [np.float64] * 3


@pytest.mark.parametrize("config", RANDOM_CONFIGS[:24], ids=lambda c: c.id)
def test_forward_matches_naive_loops(config: Config) -> None:
    a = config.arrays()
    np.testing.assert_allclose(
        conv1d_forward(a["x"], a["weight"], a["bias"], config.stride),
        naive_forward(a["x"], a["weight"], a["bias"], config.stride),
        rtol=1e-12,
        atol=1e-12,
    )
