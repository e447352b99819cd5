"""One module per control point's lifecycle stage, each with ``run(ctx) -> StageResult``."""
