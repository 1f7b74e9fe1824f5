"""The loopmlp tool around the kernel: integrations such as the pytest plugin."""
