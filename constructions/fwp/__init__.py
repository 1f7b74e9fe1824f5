"""Fast weight programmers on formal languages: the models, the languages and hand-set
constructions, each a pure constructor of a named model."""
