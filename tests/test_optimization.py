"""The learning-rate schedule serializes like any Keras schedule (an optimizer's config carries it)."""

import keras
import numpy as np
import pytest

from mrinets.train.optimization import Schedule


@pytest.mark.parametrize("decay", ["constant", "cosine", "exponential"])
def test_schedule_config_round_trips(decay):
    schedule = Schedule(2e-3, decay, warmup_steps=5, total_steps=50, decay_steps=None, alpha=0.1, decay_rate=0.3)
    config = schedule.get_config()
    assert config == {"learning_rate": 2e-3, "decay": decay, "warmup_steps": 5, "total_steps": 50, "decay_steps": None,
                      "alpha": 0.1, "decay_rate": 0.3}
    steps = (0, 4, 5, 20, 50, 80)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, Schedule) and again.get_config() == config
    np.testing.assert_allclose([float(again(s)) for s in steps], [float(schedule(s)) for s in steps])
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    restored = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert restored.learning_rate is not None and restored.get_config()["learning_rate"] == optimizer.get_config()["learning_rate"]


def test_schedule_rejects_an_unknown_decay():
    with pytest.raises(ValueError, match=r"Invalid value for argument `decay`.*Received: decay='linear'"):
        Schedule(1e-3, "linear")
