"""The naive baseline both benchmarks measure against: what a course might write by hand, a fresh unsandboxed
Python per file that imports it and runs only the six visible cases (printing how many gave arrays)."""

import textwrap

BASELINE = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np
    spec = importlib.util.spec_from_file_location("nn", sys.argv[1])
    nn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nn)
    w1 = np.array([[[0, 1], [2, 3]], [[4, 2], [-2, -4]], [[3, -4], [5, 2]]])
    x1 = np.array([[[0, 1, -3, -1], [-2, 3, -2, 1]], [[4, 5, -2, 3], [2, -1, -4, 7]]])
    d1 = np.array([[[2, -1, -1], [2, -2, 3], [2, 2, 1]], [[0, 0, -3], [2, 7, -1], [8, 7, 2]]])
    cases = [
        ((2, 3, 2, 1), w1, np.array([0, 1, 2]), x1, d1),
        ((3, 5, 8, 1), np.arange(120).reshape(5, 3, 8), np.arange(5), np.arange(72).reshape(3, 3, 8),
         np.arange(15).reshape(3, 5, 1)),
        ((5, 3, 1, 1), np.arange(-7.5, 7.5, 1).reshape(3, 5, 1), np.arange(3), np.arange(100).reshape(4, 5, 5),
         np.arange(60).reshape(4, 3, 5)),
    ]
    results = []
    for layer, w, b, x, d in cases:
        conv = nn.Conv1d(*layer); conv.weight = w; conv.bias = b
        out = conv.forward(x)
        results.append(isinstance(out, np.ndarray))
        conv = nn.Conv1d(*layer); conv.weight = w; conv.bias = b
        conv.forward(x)
        dx = conv.backward(d)
        results.append(isinstance(dx, np.ndarray) and dx.shape == x.shape)
    print(sum(results))
    """
)
