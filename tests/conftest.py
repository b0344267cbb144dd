import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shipped_model():
    """``shipped_model(name)``: the Keras model of shipped config ``name``, built once per test session.

    Building a shipped network traces it symbolically (the fastMRI VarNet: about 30,000 ops), so the tests
    that only read a model (run it, count its parameters, look at its layers) share one build.
    """
    import functools

    from mrinets import configs, networks

    return functools.lru_cache(maxsize=None)(lambda name: networks.build(configs.find(name)))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_complex(rng, shape, dtype=np.complex64):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.slow`` tests unless the ``-m`` expression names them (``pytest -m slow``)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow; run with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
