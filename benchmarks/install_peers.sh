#!/usr/bin/env bash
# Install the peers that `python -m benchmarks` compares against, into the current Python.
#
#   bash benchmarks/install_peers.sh
#
# * torch==2.13.0, cvnn, finufft and torchkbnufft come from the `bench` extra. torch is pinned exactly: any other
#   torch requirement resolves to a multi-GB CUDA build.
# * fastmri is installed WITHOUT its requirements: they include torchvision and
#   pytorch-lightning, which would replace the pinned torch with a newer CUDA one. What
#   `import fastmri.models` and `fastmri.data.subsample` really need is torch, numpy, h5py,
#   pyyaml (all present after the extra) plus pandas, requests and tqdm (imported by
#   fastmri.data.mri_data).
# * cvnn 2.0 imports tensorflow_probability, which refuses to load without tf-keras (Keras 2);
#   tf-keras is installed at the running TensorFlow's minor version. cvnn's layers then run on
#   Keras 3, but their weights are plain tf.Variables that Keras 3 does not track.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -e ".[bench]"
python -m pip install --no-deps "fastmri==0.3.0"
python -m pip install pandas requests tqdm
python -m pip install "tf-keras~=$(python -c 'import tensorflow as tf; print(tf.__version__.rsplit(".", 1)[0])').0"
python -c "import torch, fastmri.models, fastmri.data.subsample; print('torch', torch.__version__, '+ fastmri ok')"
python -c "import cvnn.layers" 2>/dev/null && echo "cvnn ok" || echo "cvnn does not import: benchmarks.conv skips it"
