"""Complex weight initializers that draw real and imaginary parts jointly.

Each draws complex weights ``w`` with ``E|w|^2 = scale / fan``, the variance its
real counterpart gives a real weight (Glorot: ``2 / (fan_in + fan_out)``, He:
``2 / fan_in``, LeCun: ``1 / fan_in``):

- ``*_normal``: circularly-symmetric complex Gaussian (Rayleigh magnitude,
  uniform phase).
- ``*_uniform``: uniform on the disc of radius ``sqrt(2 * var)``.

Fans count complex channels: a conv kernel of shape ``(k..., in, out)`` has
``fan_in = prod(k) * in``.

Usable by name wherever Keras takes an initializer:
``Conv2D(8, 3, dtype="complex64", kernel_initializer="complex_he_normal")``.
"""

import math
import random

import keras
import numpy as np
import tensorflow as tf

from mrinets.layers import lookup
from mrinets.layers._base import COMPLEX_DTYPES, invalid_argument

_SCALES = {"glorot": (1.0, "fan_avg"), "he": (2.0, "fan_in"), "lecun": (1.0, "fan_in")}


def compute_fans(shape):
    """(fan_in, fan_out) of a dense ``(in, out)`` or conv ``(k..., in, out)`` kernel shape."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexVarianceScaling:
    """Complex initializer with ``E|w|^2 = scale / fan``.

    Args:
        scale: positive float.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"normal"`` (complex Gaussian) or ``"uniform"`` (uniform on a disc).
        seed: int or None.

    Called as ``init(shape, dtype)`` it returns a complex tensor of ``dtype``
    (complex64 default; float32 asks for complex64, float64 for complex128).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal", seed=None):
        if not scale > 0:
            raise invalid_argument("scale", "a strictly positive float", scale)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise invalid_argument("mode", "one of 'fan_in', 'fan_out', 'fan_avg'", mode)
        if distribution not in ("normal", "uniform"):
            raise invalid_argument("distribution", "one of 'normal', 'uniform'", distribution)
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed
        self._seeds = random.Random(seed)

    def next_seed(self):
        """An integer seed for one draw (a seeded initializer gives the same sequence every run)."""
        return self._seeds.randrange(2**31)

    def variance(self, shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        return self.scale / max(1.0, fan)

    def __call__(self, shape, dtype=None, seed=None):
        """Draw complex weights; an integer ``seed`` makes the draw repeatable (stateless)."""
        dtype = tf.as_dtype(dtype or "complex64")
        part_dtype = tf.as_dtype(COMPLEX_DTYPES[dtype.name]) if dtype.is_complex else dtype
        seed = self.next_seed() if seed is None else seed
        radius_scale = math.sqrt(self.variance(shape))
        if self.distribution == "normal":
            # E|w|^2 = 2 sigma^2 with independent N(0, sigma^2) parts.
            parts = keras.random.normal((2,) + tuple(shape), stddev=radius_scale / math.sqrt(2), dtype=part_dtype, seed=seed)
            return tf.complex(parts[0], parts[1])
        # Uniform on a disc of radius R: |w| = R sqrt(u), E|w|^2 = R^2 / 2.
        uniform = keras.random.uniform((2,) + tuple(shape), dtype=part_dtype, seed=seed)
        magnitude = radius_scale * math.sqrt(2.0) * tf.sqrt(uniform[0])
        phase = 2.0 * math.pi * uniform[1]
        return tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _named(family, distribution):
    scale, mode = _SCALES[family]
    name = f"Complex{family.capitalize()}{distribution.capitalize()}"

    def __init__(self, seed=None):
        ComplexVarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self):
        return {"seed": self.seed}

    doc = f"Complex {family} {distribution} initializer: ``E|w|^2 = {scale:g} / {mode}``."
    cls = type(name, (ComplexVarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                                  "__module__": __name__})
    return keras.saving.register_keras_serializable(package="mrinets")(cls)


ComplexGlorotUniform = _named("glorot", "uniform")
ComplexGlorotNormal = _named("glorot", "normal")
ComplexHeUniform = _named("he", "uniform")
ComplexHeNormal = _named("he", "normal")
ComplexLecunUniform = _named("lecun", "uniform")
ComplexLecunNormal = _named("lecun", "normal")

#: registry name -> class, registered by the built-in plugin.
COMPLEX_INITIALIZERS = {
    "complex_glorot_uniform": ComplexGlorotUniform,
    "complex_glorot_normal": ComplexGlorotNormal,
    "complex_he_uniform": ComplexHeUniform,
    "complex_he_normal": ComplexHeNormal,
    "complex_lecun_uniform": ComplexLecunUniform,
    "complex_lecun_normal": ComplexLecunNormal,
    "complex_variance_scaling": ComplexVarianceScaling,
}


#: Random Keras initializers with no complex meaning: a complex layer refuses them.
_REAL_ONLY = (keras.initializers.RandomNormal, keras.initializers.RandomUniform, keras.initializers.TruncatedNormal,
              keras.initializers.Orthogonal)


def get(identifier, complex=False, argument="initializer"):
    """Initializer from a name, a config dict or an instance.

    With ``complex=True`` a Keras name that has a ``complex_`` counterpart
    (``"glorot_uniform"`` -> ``"complex_glorot_uniform"``) gives the counterpart, and a
    random Keras initializer other than ``VarianceScaling`` (``RandomNormal``, ``Orthogonal``,
    ...) is refused with an error naming ``argument`` (see ``complex_pair`` for the others).
    A name neither mrinets nor Keras knows loads the plugins (``mrinets.layers.lookup``).
    """
    if isinstance(identifier, str):
        found = _named(identifier, complex)
        if found is None and not _keras_knows(identifier):
            lookup.load("initializer")
            found = _named(identifier, complex)
        if found is not None:
            return found()
    initializer = keras.initializers.get(identifier)  # also a config dict: {"class_name": "VarianceScaling", ...}
    if complex and isinstance(initializer, _REAL_ONLY):
        raise invalid_argument(argument, "for a complex layer a complex initializer (e.g. 'complex_he_normal'), "
                               "a Keras VarianceScaling one, or a constant one", identifier)
    return initializer


def _named(name, complex):
    """mrinets' or a plugin's initializer class called ``name`` (``complex_name`` first when ``complex``), or None."""
    for candidate in ([f"complex_{name}"] if complex else []) + [name]:
        found = COMPLEX_INITIALIZERS.get(candidate) or lookup.find("initializer", candidate)
        if found is not None:
            return found
    return None


def _keras_knows(name):
    try:
        keras.initializers.get(name)
    except ValueError:
        return False
    return True


def complex_pair(initializer, shape, complex_dtype):
    """(real-part initializer, imag-part initializer) for a complex weight.

    A complex initializer draws once and both parts come from that draw. A Keras
    ``VarianceScaling`` (``{class_name: VarianceScaling, config: {scale: s, ...}}``,
    ``GlorotUniform``, ...) draws each part independently with half its variance
    (scale ``s / 2``), so ``E|w|^2 = s / fan`` as for the complex initializers. Any other
    initializer sets the real part and leaves the imaginary part zero (so ``"ones"`` means 1+0j).
    """
    if isinstance(initializer, keras.initializers.VarianceScaling):
        seed = initializer.get_config().get("seed")  # an int: repeatable draws; else two independent ones
        return tuple(keras.initializers.VarianceScaling(
            scale=initializer.scale / 2, mode=initializer.mode, distribution=initializer.distribution,
            seed=seed + part if isinstance(seed, int) else None) for part in (0, 1))
    if not isinstance(initializer, ComplexVarianceScaling):
        return initializer, "zeros"
    seed = initializer.next_seed()  # both parts repeat the same stateless draw

    def part(index):
        def init(shape_, dtype=None):
            value = initializer(shape, complex_dtype, seed=seed)
            return tf.math.real(value) if index == 0 else tf.math.imag(value)

        return init

    return part(0), part(1)
