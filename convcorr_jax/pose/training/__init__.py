"""Training Tompson et al.'s cascade: the loop (`loop.train`: three stages, data-parallel, resumable; it writes
checkpoints and imports no inference module), its settings (`config.TrainConfig`), each stage's optimizer and step
(`stages`), orbax checkpoints (`checkpoints`), the event log (`event_log`) and the run folder's files and data
(`run_folder`). The export step that makes a run a model is `pose.export.model_folder.write_stage`, passed to the
loop by its caller."""
