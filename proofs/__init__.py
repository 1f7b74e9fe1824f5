"""The claims: every obligation the project makes, registered by name (:mod:`.registry`), one
module per family."""
