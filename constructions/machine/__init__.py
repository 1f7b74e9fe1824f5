"""The SUBLEQ machine and its programs: the interpreter every backend is checked against, the
``.sq`` assembler, the import of Giannou et al.'s CSV programs, and the size limits."""
