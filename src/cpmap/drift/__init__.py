"""CP9 drift & performance monitoring: drift tests (in memory, on Dask, streaming),
performance windows, golden-set re-validation and slow-poisoning detection."""
