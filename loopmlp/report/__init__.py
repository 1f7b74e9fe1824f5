"""Correctness reports: the content gathered as values, rendered as HTML and Markdown with
pictures, and the results documents (JSON, JUnit XML) written and read back."""
