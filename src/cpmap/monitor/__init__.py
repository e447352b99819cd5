"""CP8 real-time input/output monitoring: baselines, per-request OOD scores, the monitored
prediction log, streaming change and probing detectors, signed alerts, output filters."""
