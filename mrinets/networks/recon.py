"""Unrolled reconstruction networks: VarNet, the generic ``Unrolled`` builder, MoDL and DC-CNN cascades.

All take the dict the data pipeline yields (see ``mrinets.data.pipeline``)::

    {"kspace": (batch, coils, *spatial) complex64,   # undersampled, zeros where not sampled
     "mask": (batch, 1, ..., W) float32,              # broadcastable to kspace
     "num_low_frequencies": (batch,) int32}           # fully sampled centre lines

and return the ``(batch, *spatial)`` float32 magnitude image (RSS-like), for 1D/2D/3D
(``rank``) from the same code.
"""

import typing

import keras
import tensorflow as tf

from mrinets import config, ops
from mrinets.arguments import check_positive_int, check_positive_number, check_rank, invalid_argument
from mrinets.config import PositiveInt, Rank, Ref
from mrinets.networks._blocks import apply_image_network, plain

NetworkRef = typing.Annotated[object, Ref("network", partial=True)]
ConsistencyRef = typing.Annotated[object, Ref("data_consistency", partial=True)]
OptionalNetworkRef = typing.Optional[NetworkRef]
OptionalConsistencyRef = typing.Optional[ConsistencyRef]


#: PyTorch's default conv initialization (kaiming_uniform with a=sqrt(5)): a third of glorot's variance.
TORCH_CONV_INITIALIZER = {"class_name": "VarianceScaling",
                          "config": {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}}


def fastmri_unet(filters, depth=4):
    """Config of fastMRI's real-valued NormUnet on stacked (re, im) channels, initialized as fastMRI's."""
    return {
        "type": "UNet", "filters": [filters * 2**level for level in range(depth + 1)], "in_channels": 2,
        "use_bias": False, "norm": {"type": "InstanceNormalization", "center": False, "scale": False,
                                    "epsilon": 1e-5},
        "activation": "leaky_relu", "down": "average", "up": "transpose", "normalize": True, "dtype": "float32",
        "kernel_initializer": TORCH_CONV_INITIALIZER,
    }


#: VarNet's default regularizer and sensitivity network (fastMRI's: NormUnet with 18 and 8 channels).
VARNET_REGULARIZER = fastmri_unet(18)
VARNET_SENSITIVITY = fastmri_unet(8)
#: MoDL's denoiser (a 5-layer 64-channel residual CNN) and the DC-CNN cascade's block (5 layers, 32 channels).
MODL_REGULARIZER = {"type": "CNN", "filters": 64, "depth": 5}
CASCADE_REGULARIZER = {"type": "CNN", "filters": 32, "depth": 5}


def recompute_complex(fn):
    """``tf.recompute_grad`` for a function of complex tensors returning one complex tensor.

    TF's graph-mode ``recompute_grad`` applies ``reduce_max`` to the output gradient, which
    rejects complex dtypes, so the recomputed function sees and returns (real, imag) parts.
    """

    def on_parts(*parts):
        out = fn(*(tf.complex(re, im) for re, im in zip(parts[::2], parts[1::2])))
        return tf.stack([tf.math.real(out), tf.math.imag(out)])

    recomputed = tf.recompute_grad(on_parts)

    def wrapper(*args):
        out = recomputed(*(part for arg in args for part in (tf.math.real(arg), tf.math.imag(arg))))
        return tf.complex(out[0], out[1])

    return wrapper


class ReconNetwork(keras.layers.Layer):
    """Base of the k-space -> image networks: input handling and model inputs.

    ``gradient_checkpointing`` (an attribute, not a config argument; ``train.gradient_checkpointing``
    sets it): networks that support it (``VarNet``) recompute each cascade in the backward pass
    while training instead of keeping its activations (``tf.recompute_grad``).
    """

    gradient_checkpointing = False

    def __init__(self, rank: Rank = 2, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})  # FFTs, coil maps and DC stay float32 under mixed
        self.rank = check_rank(rank)

    def unpack(self, inputs):
        kspace = tf.convert_to_tensor(inputs["kspace"])
        if kspace.shape.rank is not None and kspace.shape.rank != self.rank + 2:
            raise ValueError(f"{self.name}: expected kspace of rank {self.rank + 2} (batch, coils, "
                             f"{self.rank} spatial axes); received shape {kspace.shape}.")
        mask = tf.cast(inputs["mask"], tf.float32)
        num_low = inputs.get("num_low_frequencies")
        return kspace, mask, num_low

    def build_network(self, reference, kind="network"):
        """A fresh sub-network (or block) from a name, ``{type: ...}`` mapping or ``Spec``, of this rank."""
        spec = config.factory(reference, kind)
        return spec() if "rank" in spec.kwargs else spec(rank=self.rank)

    def model_inputs(self):
        """``keras.Input`` placeholders of the pipeline's dict."""
        spatial = (None,) * self.rank
        return {
            "kspace": keras.Input((None,) + spatial, dtype="complex64", name="kspace"),
            "mask": keras.Input((1,) + spatial, dtype="float32", name="mask"),
            "num_low_frequencies": keras.Input((), dtype="int32", name="num_low_frequencies"),
        }

    def get_config(self):
        return {**super().get_config(), "rank": self.rank}


#: ``coil_maps:`` a method of ``ops.estimate_coil_maps`` or ``{method: espirit, crop: 0.9, ...}``.
CoilMaps = typing.Union[str, dict]


def _coil_maps_from_acs(kspace, mask, num_low, rank, spec="acs"):
    method, options = ops.coil_maps.parse_spec(spec)
    return ops.estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low, rank=rank, method=method, **options)


class VarNetBlock(keras.layers.Layer):
    """One VarNet cascade, as fastMRI's ``VarNetBlock``: ``k - w M (k - k0) - F S R(S^H F^H k)``.

    Args:
        regularizer: the image network ``R`` (a built layer; one instance may serve several blocks).
        dc_weight: the learned scalar ``w`` (a variable; ``VarNet`` creates all of them first, so
            its checkpoints keep one layout whatever the blocks hold).
        rank: spatial dimensions.
        scale: None, or a learned scalar variable multiplying the regularizer's term.
        scale_gain: a constant factor on ``scale``.

    Call ``block(kspace, kspace0, mask, maps)``: the current and the measured k-space
    ``(batch, coils, *spatial)`` complex64, the sampling mask (complex, broadcastable) and the
    coil maps; returns the refined k-space.
    """

    def __init__(self, regularizer, dc_weight, rank=2, scale=None, scale_gain=1.0, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})  # k-space and DC in complex64 under a mixed policy
        self.regularizer, self.dc_weight, self.rank, self.scale = regularizer, dc_weight, rank, scale
        self.scale_gain = scale_gain

    def sens_reduce(self, kspace, maps):
        """Coil k-space -> the coil-combined image ``S^H F^H k``: ``(batch, *spatial)``."""
        return tf.reduce_sum(tf.math.conj(maps) * ops.ifftn(kspace, rank=self.rank), axis=1)

    def sens_expand(self, image, maps):
        """Image -> coil k-space ``F S x``: ``(batch, coils, *spatial)``."""
        return ops.fftn(maps * tf.expand_dims(image, 1), rank=self.rank)

    def call(self, kspace, kspace0, mask, maps):
        refined = apply_image_network(self.regularizer, self.sens_reduce(kspace, maps))
        soft_dc = mask * (kspace - kspace0) * tf.cast(self.dc_weight, kspace.dtype)
        model_term = self.sens_expand(refined, maps)
        if self.scale is not None:
            model_term = model_term * tf.cast(self.scale * self.scale_gain, model_term.dtype)
        return kspace - soft_dc - model_term


@keras.saving.register_keras_serializable(package="mrinets")
class VarNet(ReconNetwork):
    """End-to-end variational network (Sriram et al., 2020).

    Coil maps come from a sensitivity network applied to the ACS region's coil images
    (normalized by their RSS); each cascade refines the multi-coil k-space with a soft
    data-consistency term (learned weight) and a regularizer applied in the image domain:
    ``k <- k - w M (k - k0) - F S R(S^H F^H k)``. Output: RSS of the final coil images.

    Args:
        rank: spatial dimensions.
        cascades: number of cascades.
        regularizer: image network per cascade (default: fastMRI's NormUnet with 18 channels,
            4 pools, real on stacked (re, im) channels; a complex U-Net is an option).
        sensitivity: network estimating coil maps from ACS coil images (default: NormUnet 8
            channels, 4 pools), or None (``null``) for maps estimated directly from the ACS data.
        share_weights: one regularizer for all cascades.
        start: the k-space the cascades start from: ``"zero_filled"`` (the measured data, as in
            fastMRI) or ``"cg_sense"`` (``F S x`` of the CG-SENSE image with the same maps; not
            trained through).
        regularizer_scale: None, or the initial value of a learned scale per cascade on the
            regularizer's term; ``0.0`` with ``start: cg_sense`` makes the untrained network
            CG-SENSE followed by data consistency, so training only adds what improves on it.
        regularizer_scale_gain: each scale is stored divided by this factor, so that Adam (whose
            steps are about the learning rate whatever the gradient's size) moves the scales this
            many times faster than the other weights. From ``0.0`` at a learning rate of 5e-4 a
            scale needs about 2,000 steps to reach 1 at gain 1, and 200 at gain 10.
        coil_maps: with ``sensitivity: null``, how the maps are estimated: "acs", "espirit",
            "walsh", "inati" or ``{method: espirit, crop: 0.9}`` (``ops.estimate_coil_maps``).
    """

    def __init__(self, rank: Rank = 2, cascades: PositiveInt = 12, regularizer: NetworkRef = VARNET_REGULARIZER,
                 sensitivity: OptionalNetworkRef = VARNET_SENSITIVITY, share_weights: bool = False,
                 start: str = "zero_filled", regularizer_scale: typing.Optional[float] = None,
                 regularizer_scale_gain: float = 1.0, coil_maps: CoilMaps = "acs", **kwargs):
        super().__init__(rank, **kwargs)
        if start not in ("zero_filled", "cg_sense"):
            raise invalid_argument("start", "'zero_filled' or 'cg_sense'", start)
        if regularizer_scale is not None and (isinstance(regularizer_scale, bool) or
                                              not isinstance(regularizer_scale, (int, float))):
            raise invalid_argument("regularizer_scale", "a number or None", regularizer_scale)
        self.start = start
        self.regularizer_scale = None if regularizer_scale is None else float(regularizer_scale)
        self.regularizer_scale_gain = check_positive_number(regularizer_scale_gain, "regularizer_scale_gain")
        ops.coil_maps.parse_spec(coil_maps)
        if sensitivity is not None and coil_maps != "acs":
            raise ValueError("Invalid value for argument `coil_maps`. Expected 'acs' unless `sensitivity` is None "
                             f"(the sensitivity network estimates the maps). Received: coil_maps={coil_maps!r}")
        self.coil_maps_spec = coil_maps
        self.cascades = check_positive_int(cascades, "cascades")
        self.regularizer, self.sensitivity = regularizer, sensitivity
        self.share_weights = bool(share_weights)
        self.dc_weights = [self.add_weight(name=f"dc_weight_{i}", shape=(), initializer="ones")
                           for i in range(self.cascades)]
        self.regularizer_scales = [None] * self.cascades if self.regularizer_scale is None else [
            self.add_weight(name=f"regularizer_scale_{i}", shape=(),
                            initializer=keras.initializers.Constant(self.regularizer_scale / self.regularizer_scale_gain))
            for i in range(self.cascades)]
        shared = self.build_network(self.regularizer) if self.share_weights else None
        self.blocks = [VarNetBlock(shared or self.build_network(self.regularizer), weight, self.rank, scale=scale,
                                   scale_gain=self.regularizer_scale_gain, name=f"cascade_{i}")
                       for i, (weight, scale) in enumerate(zip(self.dc_weights, self.regularizer_scales))]
        self.sensitivity_network = None if self.sensitivity is None else self.build_network(self.sensitivity)

    def coil_maps(self, kspace, mask, num_low):
        if self.sensitivity_network is None:
            return _coil_maps_from_acs(kspace, mask, num_low, self.rank, self.coil_maps_spec)
        if num_low is not None:  # line masks: their center lines; 2D (ky-kz) masks, any rank: their 2D block
            region = ops.acs_region(mask, num_low, kspace.shape.rank)
        else:
            region = ops.calibration_region(mask)
        images = ops.ifftn(kspace * tf.cast(region, kspace.dtype), rank=self.rank)  # (B, C, *S)
        shape = tf.shape(images)
        per_coil = tf.reshape(images, tf.concat([[-1], shape[2:]], 0))
        refined = apply_image_network(self.sensitivity_network, per_coil)
        maps = tf.reshape(refined, shape)
        return maps / tf.cast(ops.rss(maps, axis=1, keepdims=True) + 1e-12, maps.dtype)

    def call(self, inputs, training=None):
        kspace0, mask, num_low = self.unpack(inputs)
        maps = self.coil_maps(kspace0, mask, num_low)
        kspace, cmask = kspace0, tf.cast(mask, kspace0.dtype)
        if self.start == "cg_sense":
            image = tf.stop_gradient(ops.cg_sense(kspace0, mask, maps=maps, rank=self.rank, return_complex=True))
            kspace = ops.fftn(maps * tf.expand_dims(image, 1), rank=self.rank)
        for block in self.blocks:
            cascade = recompute_complex(block) if self.gradient_checkpointing and training else block
            kspace = cascade(kspace, kspace0, cmask, maps)
        return ops.rss(ops.ifftn(kspace, rank=self.rank), axis=1)

    def get_config(self):
        return {**super().get_config(), "cascades": self.cascades, "regularizer": plain(self.regularizer),
                "sensitivity": plain(self.sensitivity), "share_weights": self.share_weights, "start": self.start,
                "regularizer_scale": self.regularizer_scale, "regularizer_scale_gain": self.regularizer_scale_gain,
                "coil_maps": plain(self.coil_maps_spec)}


@keras.saving.register_keras_serializable(package="mrinets")
class Unrolled(ReconNetwork):
    """Generic unrolled network: ``iterations`` x {regularizer, data_consistency}, written in YAML.

    ``x0 = A^H y`` with coil maps from the ACS region; then per iteration
    ``z = regularizer(x)`` and ``x = data_consistency(z, y, mask, maps)``. Output ``|x| * rss(maps)``
    (the SENSE image in RSS intensity).

    Args:
        rank: spatial dimensions.
        iterations: number of unrolled iterations.
        regularizer: image network (``UNet``, ``CNN``, a plugin's ...).
        data_consistency: registered data-consistency block (``HardDC``, ``GradientDC``, ``CGDC``),
            or None for image-domain post-processing of the SENSE-combined zero-filled image.
        share_weights: one regularizer and one data-consistency block for every iteration.
        coil_maps: how the maps are estimated: "acs", "espirit", "walsh", "inati" or
            ``{method: espirit, crop: 0.9}`` (``ops.estimate_coil_maps``).
    """

    def __init__(self, rank: Rank = 2, iterations: PositiveInt = 5, regularizer: NetworkRef = "CNN",
                 data_consistency: OptionalConsistencyRef = "GradientDC", share_weights: bool = False,
                 coil_maps: CoilMaps = "acs", **kwargs):
        super().__init__(rank, **kwargs)
        ops.coil_maps.parse_spec(coil_maps)
        self.coil_maps_spec = coil_maps
        self.iterations = check_positive_int(iterations, "iterations")
        self.regularizer, self.data_consistency = regularizer, data_consistency
        self.share_weights = bool(share_weights)
        count = 1 if self.share_weights else self.iterations
        self.regularizers = [self.build_network(regularizer) for _ in range(count)]
        self.consistency = [self.build_network(data_consistency, "data_consistency")
                            for _ in range(count)] if data_consistency is not None else []

    def call(self, inputs, training=None):
        kspace, mask, num_low = self.unpack(inputs)
        maps = _coil_maps_from_acs(kspace, mask, num_low, self.rank, self.coil_maps_spec)
        image = ops.sense_adjoint(kspace, maps, mask, rank=self.rank)
        for i in range(self.iterations):
            index = 0 if self.share_weights else i
            image = apply_image_network(self.regularizers[index], image)
            if self.consistency:
                image = self.consistency[index](image, kspace, mask, maps)
        return tf.abs(image) * ops.rss(maps, axis=1)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "regularizer": plain(self.regularizer),
                "data_consistency": plain(self.data_consistency), "share_weights": self.share_weights,
                "coil_maps": plain(self.coil_maps_spec)}


@keras.saving.register_keras_serializable(package="mrinets")
class MoDL(Unrolled):
    """MoDL (Aggarwal et al., 2019): a shared residual CNN denoiser alternating with CG data consistency.

    ``Unrolled`` with MoDL's defaults: 10 iterations, a 5-layer 64-channel residual CNN and
    ``CGDC`` (learned lambda), weights shared across iterations.
    """

    def __init__(self, rank: Rank = 2, iterations: PositiveInt = 10, regularizer: NetworkRef = MODL_REGULARIZER,
                 data_consistency: OptionalConsistencyRef = "CGDC", share_weights: bool = True, **kwargs):
        super().__init__(rank, iterations, regularizer, data_consistency, share_weights, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Cascade(Unrolled):
    """DC-CNN cascade (Schlemper et al., 2018): residual CNN blocks with hard k-space data consistency.

    ``Unrolled`` with its defaults: 5 cascades of a 5-layer 32-channel residual CNN and
    ``HardDC``, separate weights per cascade.
    """

    def __init__(self, rank: Rank = 2, iterations: PositiveInt = 5, regularizer: NetworkRef = CASCADE_REGULARIZER,
                 data_consistency: OptionalConsistencyRef = "HardDC", share_weights: bool = False, **kwargs):
        super().__init__(rank, iterations, regularizer, data_consistency, share_weights, **kwargs)


NETWORKS = {"VarNet": VarNet, "Unrolled": Unrolled, "MoDL": MoDL, "Cascade": Cascade}
