"""Non-uniform FFT in pure TensorFlow: type 1/2 transforms, a planned operator, Toeplitz normal operator.

Conventions follow tensorflow-nufft (and FINUFFT's default mode order), so code written for
``tfft.nufft`` runs unchanged:

- ``points``: `(..., M, rank)` real, frequencies in radians; the period is `2 pi`, ``[-pi, pi)``
  is the canonical range (points outside wrap around).
- Grid index ``n`` along an axis of size ``N`` is the integer frequency ``n - N // 2``.
- ``fft_direction="forward"`` uses ``exp(-i k . x)``, ``"backward"`` ``exp(+i k . x)``.
- Type 2 (grid -> points): ``f_j = sum_n c_n exp(+-i k_j . (n - N // 2))``, source `(..., *grid_shape)`,
  result `(..., M)`. Type 1 (points -> grid): ``c_n = sum_j f_j exp(+-i k_j . (n - N // 2))``,
  source `(..., M)`, result `(..., *grid_shape)`. Neither is normalized.
- Leading batch dimensions of ``source`` and ``points`` broadcast.

Algorithm: the "exponential of semicircle" kernel ``phi(z) = exp(beta (sqrt(1 - (2 z / W)^2) - 1))``
(Barnett et al., FINUFFT) on a 2x oversampled grid, width ``W = ceil(log10(10 / tol))`` and
``beta = 2.30 W``; deapodization by the kernel's Fourier transform, computed once by Gauss-Legendre
quadrature. Interpolation and spreading are gathers and segment sums over the ``W^rank``
neighbourhood of every point, vectorized over points and batches.

Accuracy (relative l2 error against an exact NUDFT, see ``tests/test_nufft.py``): complex128 reaches
``tol`` down to 1e-12; complex64 reaches about 1e-6 at best (float32 rounding), so use it for
``tol >= 1e-5``.
"""

import functools

import numpy as np
import tensorflow as tf

from mrinets.arguments import invalid_argument

_TRANSFORM_TYPES = ("type_1", "type_2")
_DIRECTIONS = ("forward", "backward")
_COMPLEX = (tf.complex64, tf.complex128)
_FFT = {2: tf.signal.fft2d, 3: tf.signal.fft3d}
_IFFT = {2: tf.signal.ifft2d, 3: tf.signal.ifft3d}
_OVERSAMPLING = 2.0


def _check_choice(value, name, choices):
    if value not in choices:
        raise invalid_argument(name, f"one of {', '.join(map(repr, choices))}", value)
    return value


def _check_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 1e-15 <= tol < 1:
        raise invalid_argument("tol", "a float in [1e-15, 1)", tol)
    return float(tol)


def _check_grid_shape(grid_shape, rank):
    try:
        shape = tuple(int(n) for n in grid_shape)
        valid = len(shape) == rank and all(n >= 2 and n == s for n, s in zip(shape, grid_shape))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise invalid_argument("grid_shape", f"{rank} integers >= 2 (one per axis of `points`)", grid_shape)
    return shape


def _as_points(points):
    points = tf.convert_to_tensor(points)
    if not points.dtype.is_floating or points.shape.rank is None or points.shape.rank < 2:
        raise invalid_argument("points", "a real `(..., M, rank)` tensor", f"<{points.dtype.name} {points.shape}>")
    if points.shape[-1] not in (2, 3):
        raise invalid_argument("points", "a last axis of size 2 or 3 (the rank)", f"<shape {points.shape}>")
    return points


def _as_source(source, dtype=None):
    source = tf.convert_to_tensor(source, dtype=dtype)
    if source.dtype not in _COMPLEX:
        raise TypeError(
            f"Invalid dtype for argument `source`. Expected complex64 or complex128. Received: dtype={source.dtype.name}"
        )
    return source


def kernel_parameters(tol):
    """``(width, beta)`` of the exponential-of-semicircle kernel for relative tolerance ``tol``."""
    tol = _check_tol(tol)
    width = int(min(16, max(2, np.ceil(np.log10(10.0 / tol)))))
    return width, 2.30 * width


def _smooth_size(n):
    """The smallest even 2^a 3^b 5^c >= n (fast FFT sizes)."""
    n = int(np.ceil(n))
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1 and n % 2 == 0:
            return n
        n += 1


def oversampled_shape(grid_shape, tol):
    """Fine-grid shape used for ``grid_shape`` at ``tol`` (2x, at least the kernel width, FFT-friendly)."""
    width, _ = kernel_parameters(tol)
    return tuple(_smooth_size(max(_OVERSAMPLING * n, 2 * width)) for n in grid_shape)


def _kernel(z, width, beta):
    """ES kernel at offsets ``z`` (grid units); zero for ``|z| >= width / 2``."""
    s = 1.0 - tf.square(2.0 * z / width)
    inside = s > 0
    return tf.where(inside, tf.exp(beta * (tf.sqrt(tf.where(inside, s, tf.ones_like(s))) - 1.0)), tf.zeros_like(s))


@functools.lru_cache(maxsize=64)
def _deapodization(size, fine_size, width, beta):
    """1 / (Fourier transform of the kernel) at frequencies ``n - size // 2``, float64 `(size,)`."""
    nodes, weights = np.polynomial.legendre.leggauss(4 * width + 20)
    t, weights = nodes * width / 2, weights * width / 2
    s = np.clip(1.0 - (2.0 * t / width) ** 2, 0.0, None)
    phi = np.exp(beta * (np.sqrt(s) - 1.0))
    frequencies = np.arange(size) - size // 2
    transform = np.cos(2 * np.pi * np.outer(frequencies, t) / fine_size) @ (weights * phi)
    return 1.0 / transform


def _broadcast_shapes(*shapes):
    result = shapes[0]
    for shape in shapes[1:]:
        result = tf.broadcast_dynamic_shape(result, shape)
    return result


def _sum_to_shape(x, shape):
    """Sum ``x`` over the axes along which a tensor of ``shape`` was broadcast to ``x``'s shape."""
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=shape, s1=tf.shape(x, out_type=shape.dtype))
    return tf.reshape(tf.reduce_sum(x, axis=axes), shape)


class _Interpolator:
    """Indices and weights of the ``W^rank`` fine-grid neighbours of each point (no FFT).

    ``indices``: int32 `(..., M, W^rank)` into the flattened fine grid; ``weights``: real
    `(..., M, W^rank)` kernel products; ``signs``: +-1 of the same shape, ``(-1)^(l_1 + ... + l_rank)``,
    which moves the zero frequency to the centre of the fine grid (an fftshift for free).
    """

    def __init__(self, points, fine_shape, width, beta):
        rank = len(fine_shape)
        offsets = tf.range(width, dtype=points.dtype)
        indices, weights, parity = 0, 1, 0
        for axis in range(rank):
            size = fine_shape[axis]
            u = points[..., axis] * (size / (2 * np.pi))
            first = tf.math.ceil(u - width / 2)
            grid = first[..., None] + offsets  # (..., M, W)
            phi = _kernel(u[..., None] - grid, width, beta)
            grid = tf.cast(grid, tf.int32)
            wrapped = tf.math.floormod(grid, size)
            # Broadcast axis `axis` to its own slot of the (W,) * rank neighbourhood.
            shape = [1] * rank
            shape[axis] = width
            expand = lambda t: tf.reshape(t, tf.concat([tf.shape(t)[:-1], shape], 0))  # noqa: E731
            stride = int(np.prod(fine_shape[axis + 1 :]))
            indices = indices + expand(wrapped * stride)
            weights = weights * expand(phi)
            parity = parity + expand(tf.math.floormod(grid, 2))
        flat = lambda t: tf.reshape(t, tf.concat([tf.shape(t)[:-rank], [width**rank]], 0))  # noqa: E731
        target = tf.shape(indices)
        self.indices = flat(indices)
        self.weights = flat(tf.broadcast_to(weights, target))
        self.signs = flat(tf.cast(1 - 2 * tf.math.floormod(tf.broadcast_to(parity, target), 2), points.dtype))


class NUFFTOperator:
    """Planned NUFFT for a fixed trajectory: the interpolation is computed once.

    ``forward`` is the type-2 transform (grid -> points) with ``fft_direction``; ``adjoint`` is its
    adjoint, the type-1 transform with the opposite direction. Both are the exact adjoints of each
    other (as discretized), and differentiable with respect to their input.

    Args:
        points: `(..., M, rank)` float trajectory in radians (batch dimensions optional).
        grid_shape: `rank` ints, the image shape.
        tol: relative accuracy, e.g. 1e-4 (complex64) or 1e-6 (complex128).
        dtype: complex64 or complex128.
        fft_direction: sign convention of ``forward``, "forward" (``exp(-i k.x)``) or "backward".

    Example:
        >>> op = NUFFTOperator(radial_trajectory(16, 8).reshape(-1, 2), (16, 16), tol=1e-4)
        >>> kspace = op.forward(image)        # (batch, M)
        >>> normal = op.toeplitz()            # A^H A as one FFT pair on a 2x grid
    """

    def __init__(self, points, grid_shape, tol=1e-6, dtype=tf.complex64, fft_direction="forward"):
        self.dtype = tf.as_dtype(dtype)
        if self.dtype not in _COMPLEX:
            raise invalid_argument("dtype", "complex64 or complex128", self.dtype.name)
        self.fft_direction = _check_choice(fft_direction, "fft_direction", _DIRECTIONS)
        self.tol = _check_tol(tol)
        # A fixed trajectory: no gradient with respect to the points here (``nufft`` has one).
        self.points = tf.stop_gradient(tf.cast(_as_points(points), self.dtype.real_dtype))
        self.rank = int(self.points.shape[-1])
        self.grid_shape = _check_grid_shape(grid_shape, self.rank)
        self.width, self.beta = kernel_parameters(self.tol)
        self.fine_shape = oversampled_shape(self.grid_shape, self.tol)
        interpolator = _Interpolator(self.points, self.fine_shape, self.width, self.beta)
        self.indices = interpolator.indices
        self.weights = tf.cast(interpolator.weights * interpolator.signs, self.dtype)
        deapodization = functools.reduce(
            np.multiply.outer,
            [_deapodization(n, f, self.width, self.beta) for n, f in zip(self.grid_shape, self.fine_shape)],
        )
        self.deapodization = tf.constant(deapodization, self.dtype)
        self.pad = [(f // 2 - n // 2, f - n - (f // 2 - n // 2)) for n, f in zip(self.grid_shape, self.fine_shape)]
        self.num_points = self.points.shape[-2] if self.points.shape[-2] is not None else tf.shape(self.points)[-2]
        self.points_batch_rank = self.points.shape.rank - 2
        self.points_batch_shape = tf.shape(self.points)[:-2]

    # --- fine-grid steps -------------------------------------------------------------------------
    def _fft(self, x, sign):
        """Unnormalized DFT over the last ``rank`` axes with kernel ``exp(sign i 2 pi l m / n)``."""
        if sign < 0:
            return _FFT[self.rank](x)
        return _IFFT[self.rank](x) * tf.cast(np.prod(self.fine_shape), x.dtype)

    def _batched(self, x, batch, inner):
        """``x`` broadcast to ``batch + inner`` and folded to `(prod(batch), *inner)`."""
        return tf.reshape(tf.broadcast_to(x, tf.concat([batch, inner], 0)), [-1] + list(inner))

    def _plan(self, batch):
        """Indices and weights folded like the data: `(M, K)` shared, or `(B, M, K)` per example."""
        if self.points_batch_rank == 0:
            return self.indices, self.weights
        inner = [self.num_points, self.width**self.rank]
        return self._batched(self.indices, batch, inner), self._batched(self.weights, batch, inner)

    def _interpolate(self, fine):
        """`(..., *fine_shape)` -> `(..., M)`."""
        batch = _broadcast_shapes(tf.shape(fine)[: -self.rank], self.points_batch_shape)
        fine = self._batched(fine, batch, list(self.fine_shape))
        fine = tf.reshape(fine, [-1, int(np.prod(self.fine_shape))])
        indices, weights = self._plan(batch)
        values = tf.gather(fine, indices, axis=1, batch_dims=min(self.points_batch_rank, 1))  # (B, M, K)
        samples = tf.reduce_sum(values * weights, axis=-1)
        return tf.reshape(samples, tf.concat([batch, [self.num_points]], 0))

    def _spread(self, samples):
        """`(..., M)` -> `(..., *fine_shape)`."""
        batch = _broadcast_shapes(tf.shape(samples)[:-1], self.points_batch_shape)
        samples = self._batched(samples, batch, [self.num_points])
        indices, weights = self._plan(batch)
        values = samples[..., None] * weights  # (B, M, K)
        size = int(np.prod(self.fine_shape))
        count = tf.shape(samples)[0]
        # One segment sum for the whole batch: example b owns segments [b * size, (b + 1) * size).
        indices = tf.broadcast_to(indices, tf.shape(values)) + tf.range(count)[:, None, None] * size
        fine = tf.math.unsorted_segment_sum(tf.reshape(values, [-1]), tf.reshape(indices, [-1]), count * size)
        return tf.reshape(fine, tf.concat([batch, self.fine_shape], 0))

    def _sign(self, opposite):
        """The exponent's sign of this operator's ``fft_direction`` (or the opposite one)."""
        sign = -1 if self.fft_direction == "forward" else 1
        return -sign if opposite else sign

    def _type_2(self, image, sign):
        image = tf.cast(_as_source(image), self.dtype) * self.deapodization
        padding = [[0, 0]] * (image.shape.rank - self.rank) + [list(p) for p in self.pad]
        return self._interpolate(self._fft(tf.pad(image, padding), sign))

    def _type_1(self, samples, sign):
        fine = self._fft(self._spread(tf.cast(_as_source(samples), self.dtype)), sign)
        begin = [0] * (fine.shape.rank - self.rank) + [p[0] for p in self.pad]
        size = [-1] * (fine.shape.rank - self.rank) + list(self.grid_shape)
        return tf.slice(fine, begin, size) * self.deapodization

    # --- public operators ------------------------------------------------------------------------
    def forward(self, image):
        """Type-2 NUFFT ``A``: `(..., *grid_shape)` complex -> `(..., M)`."""
        return self._type_2(image, self._sign(False))

    def adjoint(self, samples):
        """``A^H``, the type-1 NUFFT with the opposite direction: `(..., M)` -> `(..., *grid_shape)`."""
        return self._type_1(samples, self._sign(True))

    def transform(self, source, transform_type, opposite=False):
        """The type-1 or type-2 transform with this operator's ``fft_direction`` (or the ``opposite``)."""
        sign = self._sign(opposite)
        return self._type_2(source, sign) if transform_type == "type_2" else self._type_1(source, sign)

    def toeplitz(self, density=None):
        """The normal operator ``A^H D A`` as a ``ToeplitzOperator`` (``D``: optional density weights)."""
        return ToeplitzOperator(self, density)


class ToeplitzOperator:
    """``A^H D A`` of a ``NUFFTOperator`` ``A`` by Toeplitz embedding: one FFT pair on a 2x grid.

    ``(A^H D A x)_n = sum_m x_m T(n - m)`` with ``T(q) = sum_j d_j exp(-+i k_j . q)``; ``T`` is computed
    once with a type-1 NUFFT on the doubled grid and stored as its FFT.

    Args:
        operator: a ``NUFFTOperator``.
        density: optional real `(..., M)` weights ``d_j`` (default ones).
    """

    def __init__(self, operator, density=None):
        self.operator = operator
        self.rank = operator.rank
        self.grid_shape = operator.grid_shape
        real = operator.dtype.real_dtype
        weights = tf.ones(tf.shape(operator.points)[:-1], real) if density is None else tf.cast(density, real)
        doubled = NUFFTOperator(operator.points, [2 * n for n in self.grid_shape], operator.tol, operator.dtype,
                                "backward" if operator.fft_direction == "forward" else "forward")
        kernel = doubled.transform(tf.complex(weights, tf.zeros_like(weights)), "type_1")
        # Index q + N of the doubled grid is the lag q; move lag 0 to index 0 for a circular convolution.
        kernel = tf.roll(kernel, shift=[-n for n in self.grid_shape], axis=list(range(-self.rank, 0)))
        self.kernel = _FFT[self.rank](kernel)

    def __call__(self, image):
        """`(..., *grid_shape)` -> `(..., *grid_shape)`."""
        image = tf.cast(_as_source(image, None), self.operator.dtype)
        padding = [[0, 0]] * (image.shape.rank - self.rank) + [[0, n] for n in self.grid_shape]
        product = _IFFT[self.rank](_FFT[self.rank](tf.pad(image, padding)) * self.kernel)
        begin = [0] * product.shape.rank
        size = [-1] * (product.shape.rank - self.rank) + list(self.grid_shape)
        return tf.slice(product, begin, size)


def nufft(source, points, grid_shape=None, transform_type="type_2", fft_direction="forward", tol=1e-6):
    """Non-uniform FFT with tensorflow-nufft's signature and conventions (see the module docstring).

    Args:
        source: complex64/complex128; type 2: `(..., *grid_shape)` grid; type 1: `(..., M)` samples.
        points: `(..., M, rank)` float in radians, rank 2 or 3; cast to ``source``'s real dtype.
        grid_shape: type 1: the output grid shape (required); type 2: optional, must match ``source``.
        transform_type: "type_1" (points -> grid) or "type_2" (grid -> points).
        fft_direction: "forward" (``exp(-i k.x)``) or "backward" (``exp(+i k.x)``).
        tol: relative accuracy (see the module docstring for what each dtype reaches).

    Returns:
        type 2: `(..., M)`; type 1: `(..., *grid_shape)`; batch dimensions broadcast; ``source``'s dtype.

    Differentiable with respect to ``source`` (the adjoint transform) and ``points`` (through the
    identity ``d/dk_j exp(+-i k_j . n) = +-i n exp(+-i k_j . n)``, i.e. more transforms, no kernel
    derivative).
    """
    _check_choice(transform_type, "transform_type", _TRANSFORM_TYPES)
    _check_choice(fft_direction, "fft_direction", _DIRECTIONS)
    tol = _check_tol(tol)
    source = _as_source(source)
    points = tf.cast(_as_points(points), source.dtype.real_dtype)
    rank = int(points.shape[-1])
    if transform_type == "type_2":
        if source.shape.rank is None or source.shape.rank < rank:
            raise invalid_argument("source", f"a `(..., *grid_shape)` tensor with at least {rank} dimensions",
                           f"<shape {source.shape}>")
        source_grid = tuple(source.shape[-rank:])
        if grid_shape is not None and tuple(grid_shape) != source_grid:
            raise invalid_argument("grid_shape", f"None or the trailing shape of `source`, {source_grid}", grid_shape)
        grid_shape = source_grid
    elif grid_shape is None:
        raise invalid_argument("grid_shape", "the output grid shape for a type-1 transform", grid_shape)
    grid_shape = _check_grid_shape(grid_shape, rank)
    return _nufft(source, points, grid_shape, transform_type, fft_direction, tol)


def _nufft(source, points, grid_shape, transform_type, fft_direction, tol):
    rank = len(grid_shape)

    def times_frequency(x, axis):
        """``x`` `(..., *grid_shape)` times the integer frequency ``n - N // 2`` of grid axis ``axis``."""
        shape = [1] * rank
        shape[axis] = grid_shape[axis]
        frequency = tf.cast(tf.range(grid_shape[axis]) - grid_shape[axis] // 2, x.dtype)
        return x * tf.reshape(frequency, shape)

    @tf.custom_gradient
    def transform(source, points):
        operator = NUFFTOperator(points, grid_shape, tol, source.dtype, fft_direction)
        result = operator.transform(source, transform_type)
        sign_i = tf.complex(tf.zeros([], points.dtype), tf.cast(operator._sign(False), points.dtype))

        def gradient(upstream):
            if transform_type == "type_2":
                # f_j = sum_n c_n e^{s i k_j.n}: grad_c = A^H g and df_j/dk_jd = s i A(n_d c)_j.
                grad_source = operator.transform(upstream, "type_1", opposite=True)
                # Broadcast the source first so the stacked axis stays clear of the points' batch axes.
                full = tf.broadcast_to(source, tf.concat([tf.shape(upstream)[:-1], grid_shape], 0))
                moments = operator.transform(tf.stack([times_frequency(full, d) for d in range(rank)], 0), "type_2")
                grad_points = tf.math.real(tf.math.conj(upstream) * sign_i * moments)
            else:
                # c_n = sum_j f_j e^{s i k_j.n}: grad_f = A'(g) with A' the type 2 of the opposite sign,
                # and grad_k_jd = Re(f_j s i conj(A'(n_d g)_j)).
                grad_source = operator.transform(upstream, "type_2", opposite=True)
                moments = operator.transform(tf.stack([times_frequency(upstream, d) for d in range(rank)], 0),
                                             "type_2", opposite=True)
                grad_points = tf.math.real(source * sign_i * tf.math.conj(moments))
            grad_points = tf.experimental.numpy.moveaxis(grad_points, 0, -1)
            return _sum_to_shape(grad_source, tf.shape(source)), _sum_to_shape(grad_points, tf.shape(points))

        return result, gradient

    return transform(source, points)
