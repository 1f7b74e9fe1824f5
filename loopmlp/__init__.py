"""The loopmlp tool around the kernel: the command line, the reports, the benchmarks and the
pytest plugin."""
