"""Demo-data builders, one module per task: ``build(folder: Path, seed: int) -> None`` writes the
task's synthetic set in its lmms-lab hub schema (see harness.demo.hub)."""
