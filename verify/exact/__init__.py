"""Exactness: the arithmetic limits (one table) and the precision certificates that say in which
number formats a network runs exactly."""
