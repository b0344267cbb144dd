"""Training: ``mrinets train/evaluate/predict`` and their parts.

* ``losses``: complex-aware losses (registered kind ``loss``);
* ``schema``: the training config (``load_config``) and its sections;
* ``trainer``: the ``tf.distribute`` training loop (``Trainer``, ``make_strategy``);
* ``checkpoint``: atomic checkpoints and the run-directory lock;
* ``evaluation``: per-volume metrics next to zero-filled and CG-SENSE, figures, submission files;
* ``commands``: the command-line sub-commands.
"""
