"""Benchmarks against peers, run by `make bench`; each module has a ``main()``."""
