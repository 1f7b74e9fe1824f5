"""The benchmarks: proof times by method and width, the engines that run programs, the SMT
solvers, and an endurance run, each measured, rendered and written into docs/."""
