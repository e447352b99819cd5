"""CP6: the model registry (signed immutable versions, lineage, aliases, promotion, rollback)
and model cards. The gate that promotion consults lives in :mod:`cpmap.gate`."""
