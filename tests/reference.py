"""NumPy references for the layer tests (complex or real, channels_last)."""

import itertools

import numpy as np


def same_padding(length, kernel, stride, dilation):
    effective = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def conv(x, w, strides, padding, dilation, groups=1):
    """x (N, *S, C), w (*k, C/groups, F) -> (N, *S', F), cross-correlation as Keras computes it."""
    rank = w.ndim - 2
    if padding == "same":
        pads = [same_padding(x.shape[1 + i], w.shape[i], strides[i], dilation[i]) for i in range(rank)]
        x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_shape = [
        (x.shape[1 + i] - (w.shape[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(rank)
    ]
    channels, filters = x.shape[-1], w.shape[-1]
    cg, fg = channels // groups, filters // groups
    y = np.zeros((x.shape[0], *out_shape, filters), dtype=np.result_type(x, w))
    for offset in itertools.product(*[range(k) for k in w.shape[:rank]]):
        index = tuple(
            slice(offset[i] * dilation[i], offset[i] * dilation[i] + (out_shape[i] - 1) * strides[i] + 1, strides[i])
            for i in range(rank)
        )
        patch = x[(slice(None),) + index]
        for g in range(groups):
            y[..., g * fg:(g + 1) * fg] += patch[..., g * cg:(g + 1) * cg] @ w[offset][:, g * fg:(g + 1) * fg]
    return y


def conv_transpose(x, w, strides, padding, dilation, output_length):
    """x (N, *S, C), w (*k, F, C) -> (N, *L, F): the adjoint scatter of ``conv``."""
    rank = w.ndim - 2
    before = [
        same_padding_for_transpose(output_length[i], x.shape[1 + i], w.shape[i], strides[i], dilation[i], padding)
        for i in range(rank)
    ]
    y = np.zeros((x.shape[0], *output_length, w.shape[-2]), dtype=np.result_type(x, w))
    for position in itertools.product(*[range(n) for n in x.shape[1:-1]]):
        for offset in itertools.product(*[range(k) for k in w.shape[:rank]]):
            target = [position[i] * strides[i] + offset[i] * dilation[i] - before[i] for i in range(rank)]
            if all(0 <= t < output_length[i] for i, t in enumerate(target)):
                y[(slice(None),) + tuple(target)] += x[(slice(None),) + position] @ w[offset].T
    return y


def same_padding_for_transpose(out_length, in_length, kernel, stride, dilation, padding):
    if padding == "valid":
        return 0
    effective = (kernel - 1) * dilation + 1
    total = max((in_length - 1) * stride + effective - out_length, 0)
    return total // 2


def pool(x, size, strides, padding, mode):
    """x (N, *S, C); max picks the largest magnitude; average ignores padding."""
    rank = len(size)
    if padding == "same":
        pads = [same_padding(x.shape[1 + i], size[i], strides[i], 1) for i in range(rank)]
    else:
        pads = [(0, 0)] * rank
    valid = np.pad(np.ones(x.shape[1:-1]), pads)
    x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_shape = [(x.shape[1 + i] - size[i]) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((x.shape[0], *out_shape, x.shape[-1]), dtype=x.dtype)
    for position in itertools.product(*[range(n) for n in out_shape]):
        window = tuple(slice(position[i] * strides[i], position[i] * strides[i] + size[i]) for i in range(rank))
        patch = x[(slice(None),) + window].reshape(x.shape[0], -1, x.shape[-1])
        mask = valid[window].reshape(-1)
        if mode == "max":
            winner = np.argmax(np.abs(patch) + np.where(mask, 0, -1)[None, :, None], axis=1)
            y[(slice(None),) + position] = np.take_along_axis(patch, winner[:, None, :], axis=1)[:, 0]
        else:
            y[(slice(None),) + position] = patch[:, mask > 0].mean(axis=1)
    return y


def ellipse_with_spot(size):
    """A test object `(size, size)` float64 on [-1, 1]^2: an ellipse of 1 with a brighter (1.5) disk inside."""
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    return ((x / 0.7) ** 2 + (y / 0.85) ** 2 < 1) * (1.0 + 0.5 * ((x - 0.2) ** 2 + y**2 < 0.1))
