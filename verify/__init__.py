"""The checking kernel: exact networks, named layouts, domains, obligations, results, and the
methods that check one against the other. It knows nothing of SUBLEQ."""
