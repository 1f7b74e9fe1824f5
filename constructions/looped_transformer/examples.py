"""Programs in the column layout of Giannou et al.'s examples, as data.

:data:`FACTORIAL` is the factorial program of their public implementation's factorial example
(input 7): ten memory words, eleven commands ending with the self-loop ``subleq ZERO,
MINUS_ONE, self``, scratchpad ``s = 2``, words of ``N = floor(log2 7!) + 3 = 15`` bits. Columns
are 0-based: memory at columns 2..11, commands at 12..22.
"""

from __future__ import annotations

from constructions.machine.giannou import GiannouProgram

FACTORIAL_INPUT = 7
FACTORIAL = GiannouProgram(
    commands=((4, 7, 13), (8, 7, 15), (9, 7, 15), (7, 6, 22), (5, 4, 22), (11, 6, 19),
              (10, 10, 16), (5, 5, 20), (4, 5, 21), (10, 10, 14), (3, 2, 22)),
    memory=(-1, 0, FACTORIAL_INPUT, -FACTORIAL_INPUT, 0, 0, -2, -1, 0, 1),
    memory_start=2,
    command_start=12,
    bits=15,
    commands_path="<factorial example>",
    memory_path="<factorial example>",
)
"""Their factorial(7): word 2 ends as 7! = 5040 (the third memory column, column 4)."""
