"""CP1 data provenance & integrity: fingerprints, signed manifests, trust, datasets, lineage."""
