"""Training: ``mrinets train/evaluate/predict`` and their parts.

* ``losses``: complex-aware losses (registered kind ``loss``);
* ``schema``: the training config (``load_config``) and its sections;
* ``trainer``: the training loop (``Trainer``); its parts: ``strategy`` (``tf.distribute``),
  ``datasets`` (the run's data), ``optimization`` (optimizer and ``Schedule``), ``tensorboard``;
* ``checkpoint``: atomic checkpoints and the run-directory lock;
* ``evaluation``: per-volume metrics next to zero-filled and CG-SENSE, figures, submission files;
* ``commands``: the command-line sub-commands;
* ``documents``: the generated JSON Schema and starter configs (``mrinets schema``/``init``).
"""
