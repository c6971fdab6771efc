"""Crowd-free cleaning (no budget, no crowd): see :mod:`.crowd_free`."""
