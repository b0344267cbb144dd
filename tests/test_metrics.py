import keras
import numpy as np
import pytest
import tensorflow as tf

from mrinets import metrics, registry

skimage_metrics = pytest.importorskip("skimage.metrics")

RNG = np.random.default_rng(0)


def _volume(slices=3, h=24, w=20):
    gt = np.abs(RNG.standard_normal((slices, h, w))).astype(np.float32) + np.linspace(0, 2, w)
    pred = gt + 0.2 * RNG.standard_normal(gt.shape).astype(np.float32)
    return gt, pred


def test_numpy_metrics_match_fastmri_with_skimage():
    gt, pred = _volume()
    maxval = gt.max()
    expected_ssim = np.mean(
        [skimage_metrics.structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred)]
    )
    np.testing.assert_allclose(metrics.ssim(gt, pred), expected_ssim, rtol=1e-6)
    np.testing.assert_allclose(
        metrics.psnr(gt, pred), skimage_metrics.peak_signal_noise_ratio(gt, pred, data_range=maxval), rtol=1e-6
    )
    np.testing.assert_allclose(metrics.nmse(gt, pred), np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2, rtol=1e-6)
    np.testing.assert_allclose(
        metrics.ssim(gt[0], pred[0], maxval=2.0),
        skimage_metrics.structural_similarity(gt[0], pred[0], data_range=2.0),
        rtol=1e-6,
    )
    assert metrics.ssim(gt, gt) == pytest.approx(1.0)


def test_numpy_metric_errors():
    with pytest.raises(ValueError, match="argument `pred`"):
        metrics.nmse(np.ones((2, 8, 8)), np.ones((2, 8, 7)))
    with pytest.raises(ValueError, match="argument `gt`"):
        metrics.ssim(np.ones((4, 4)), np.ones((4, 4)))


def test_tf_functions_match_per_example():
    gt, pred = _volume(slices=4)
    for fn_tf, fn_np in [(metrics.nmse_tf, metrics.nmse), (metrics.psnr_tf, metrics.psnr), (metrics.ssim_tf, metrics.ssim)]:
        got = tf.function(fn_tf)(tf.constant(gt), tf.constant(pred)).numpy()
        expected = [fn_np(g, p) for g, p in zip(gt, pred)]
        np.testing.assert_allclose(got, expected, rtol=1e-4)
    # complex inputs are magnitudes; (batch, H, W, 1) accepted
    np.testing.assert_allclose(
        metrics.ssim_tf(gt[..., None].astype(np.complex64), pred[..., None]).numpy(),
        [metrics.ssim(g, p) for g, p in zip(gt, pred)],
        rtol=1e-4,
    )


def test_keras_metrics_are_stateful_and_work_in_fit():
    gt, pred = _volume(slices=4)
    m = metrics.SSIM()
    m.update_state(gt[:1], pred[:1])
    m.update_state(gt[1:], pred[1:])
    np.testing.assert_allclose(m.result().numpy(), np.mean([metrics.ssim(g, p) for g, p in zip(gt, pred)]), rtol=1e-4)
    m.reset_state()
    assert float(m.result()) == 0.0
    assert metrics.PSNR.from_config(metrics.PSNR(name="p").get_config()).name == "p"

    inputs = keras.Input((24, 20))
    model = keras.Model(inputs, keras.layers.Reshape((24, 20))(keras.layers.Dense(20)(inputs)))
    model.compile(optimizer="sgd", loss="mse", metrics=[metrics.NMSE(), metrics.PSNR(), metrics.SSIM()])
    history = model.fit(gt, gt, batch_size=2, epochs=1, verbose=0)
    assert {"nmse", "psnr", "ssim"} <= set(history.history)
    assert np.isfinite(history.history["psnr"][0])


def test_registered():
    assert {"nmse", "psnr", "ssim", "NMSE", "PSNR", "SSIM"} <= set(registry.names("metric"))
    assert registry.get("metric", "ssim") is metrics.ssim
