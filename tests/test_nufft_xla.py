"""The non-Cartesian code path compiles with XLA and has no host-only ops (nothing ties it to the CPU).

Every function is traced under ``tf.function(jit_compile=True)``: XLA compiling it proves each op
has an XLA kernel (the same lowering runs on GPU), and the traced graph, with its nested function
library (loops, gradients), is checked for ops that call back into Python on the host.
"""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import networks, ops
from tests.conftest import random_complex

#: Ops that run Python on the host (``tf.numpy_function``, ``tf.py_function``).
HOST_ONLY = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
N, COILS = 8, 2


def op_types(function, *args):
    """Op types of ``function``'s traced graph and of every function in its library."""
    graph_def = function.get_concrete_function(*args).graph.as_graph_def()
    types = {node.op for node in graph_def.node}
    for library_function in graph_def.library.function:
        types |= {node.op for node in library_function.node_def}
    return types


def check(function, *args, compile=True, atol=1e-4):
    """No host-only op in the traced graph; with ``compile``, XLA runs it and matches eager."""
    compiled = tf.function(function, jit_compile=True)
    found = op_types(compiled, *args) & HOST_ONLY
    assert not found, f"host-only ops in the graph: {sorted(found)}"
    if compile:
        for result, expected in zip(tf.nest.flatten(compiled(*args)), tf.nest.flatten(function(*args))):
            np.testing.assert_allclose(result.numpy(), expected.numpy(), atol=atol, rtol=1e-4)


#: Compiling takes 10-40 s a case on 2 loaded cores: the fast runs compile the NUFFT (2D) and the
#: planned operators, and check every graph for host-only ops; ``-m slow`` compiles the rest.
COMPILE = [False, pytest.param(True, marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def radial():
    rng = np.random.default_rng(3)
    points = tf.constant(ops.radial_trajectory(N, 6, ordering="golden").reshape(-1, 2))
    image = tf.constant(random_complex(rng, (1, N, N)))
    kspace = tf.constant(random_complex(rng, (1, COILS, points.shape[0])))
    return points, image, kspace


@pytest.mark.parametrize("rank,compile", [(2, True), (3, False), pytest.param(3, True, marks=pytest.mark.slow)])
def test_nufft_and_its_gradients(rank, compile):
    rng = np.random.default_rng(rank)
    grid = (6,) * rank
    points = tf.constant(rng.uniform(-np.pi, np.pi, (2, 20, rank)), tf.float32)
    image = tf.constant(random_complex(rng, (2,) + grid))

    def transforms_and_gradients(image, points):
        with tf.GradientTape() as tape:
            tape.watch([image, points])
            samples = ops.nufft(image, points, tol=1e-4)
            grids = ops.nufft(samples, points, grid, "type_1", "backward", tol=1e-4)
            loss = tf.reduce_sum(tf.abs(grids) ** 2)
        return (samples, grids) + tuple(tape.gradient(loss, [image, points]))

    check(transforms_and_gradients, image, points, compile=compile, atol=1e-2)


def test_planned_operators_and_density(radial):
    points, image, kspace = radial

    def planned(image, kspace, points):
        operator = ops.NUFFTOperator(points, (N, N), tol=1e-4)
        density = ops.estimate_density(points, (N, N))
        return (operator.forward(image), operator.adjoint(kspace * tf.cast(density, kspace.dtype)),
                operator.toeplitz(density)(image), density)

    check(planned, image, kspace, points)


@pytest.mark.parametrize("compile", COMPILE)
def test_sense_operators_maps_and_baselines(radial, compile):
    points, image, kspace = radial

    def reconstruct(image, kspace, points):
        operator = ops.NUFFTOperator(points, (N, N), tol=1e-4)
        density = ops.estimate_density(points, (N, N))
        maps = ops.estimate_coil_maps_nc(kspace, operator, density, calibration_size=4)
        normal = ops.nc_sense_normal(image, maps, operator.toeplitz(), regularization=0.1)
        return (ops.nc_sense_forward(image, maps, operator), ops.nc_sense_adjoint(kspace, maps, operator, density),
                normal, ops.gridding_reconstruction(kspace, operator, density),
                ops.cg_sense_nc(kspace, operator, density=density, max_iterations=3, calibration_size=4))

    check(reconstruct, image, kspace, points, compile=compile, atol=1e-3)


@pytest.mark.parametrize("compile", COMPILE)
@pytest.mark.parametrize("network", ["NonCartesianUnrolled", "NonCartesianVarNet"])
def test_networks_forward(radial, network, compile):
    points, _, kspace = radial
    regularizer = {"type": "CNN", "dtype": "complex64", "filters": 4, "depth": 2}
    size = {"cascades": 1} if network == "NonCartesianVarNet" else {"iterations": 1, "cg_iterations": 2}
    model = networks.build({"type": network, "rank": 2, "grid_shape": [N, N], "regularizer": regularizer, **size})
    inputs = {"kspace": kspace, "trajectory": points[None],
              "density": ops.estimate_density(points, (N, N))[None]}
    check(lambda inputs: model(inputs), inputs, compile=compile, atol=1e-3)
