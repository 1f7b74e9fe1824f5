"""Exchange with other verifiers: ONNX models in and out, VNN-LIB properties out (the ``onnx``
extra, imported only where it is used)."""
