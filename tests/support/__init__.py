"""Helpers shared by the tests: the command line with captured streams, weight mutations, and a
network written out as a spec.

``tests`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests import these as
``support.cli``, ``support.mutation`` and ``support.specs``.
"""
