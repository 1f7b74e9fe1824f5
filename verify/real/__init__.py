"""The real-valued network kernel: one text of each model operation, evaluated in float64, in
sound ball enclosures (arb) and in exact rationals where the operation allows it."""
