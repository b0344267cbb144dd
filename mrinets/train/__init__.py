"""Training: complex-aware losses (``mrinets.train.losses``)."""
