"""mrinets benchmarks: ratios against a reference measured in the same process."""
