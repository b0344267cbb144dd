"""mrinets benchmarks: ratios against the real-conv limit and against peers (fastMRI, cvnn).

``python -m benchmarks [--quick] [--only NAME]`` runs every comparison; see ``__main__.py``.
"""
