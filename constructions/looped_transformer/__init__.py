"""Giannou et al.'s looped Transformer ("Looped Transformers as Programmable Computers", 2023):
the network kind, the layout of its state matrix, and a reconstruction of its SUBLEQ machine.

Modules: :mod:`.network` (layers and their float evaluation), :mod:`.layout` (rows, columns and
the encoder/decoder to :class:`constructions.subleq.State`), :mod:`.subleq_net` (the ten-layer
step), :mod:`.npz_io` (weights saved from their code), :mod:`.programs` (a program or a saved file
turned into a network and an initial matrix), :mod:`.runner` (checked float runs) and
:mod:`.certify` (sound enclosures of the real-number semantics).
"""
