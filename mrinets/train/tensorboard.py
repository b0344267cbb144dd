"""TensorBoard scalars and images written as summary protobufs (no ``tensorboard`` package needed)."""

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def write_summary(kind, tag, value, step):
    """Write a TensorBoard scalar or image (``(1, h, w, 1)`` in [0, 1]) without needing the tensorboard package."""
    metadata = summary_pb2.SummaryMetadata()
    if kind == "scalar":
        metadata.plugin_data.plugin_name = "scalars"
        metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
        tensor = tf.constant(float(value), tf.float32)
    else:
        metadata.plugin_data.plugin_name = "images"
        metadata.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
        image = tf.cast(tf.round(tf.clip_by_value(value[0], 0.0, 1.0) * 255.0), tf.uint8)
        png = tf.io.encode_png(image)
        tensor = tf.stack([tf.as_string(tf.shape(image)[1]), tf.as_string(tf.shape(image)[0]), png])
    tf.summary.write(tag, tensor, step=step, metadata=metadata)
