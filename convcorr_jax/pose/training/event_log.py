"""TensorBoard event files of a training run, written with tensorboardX by process 0 to `TrainConfig.logdir`
(default `<run folder>/tb`, "off" for none; `tensorboard --logdir DIR` shows them).

Per step `loss/stage1`..`loss/stage3` (the objective of the step's stage, per labelled joint, as the progress bar's
loss), `loss/e1`, `loss/e2` (the coarse and fine squared errors per labelled joint; e2 is 0 in stage 1, which does
not run the fine model) and `lr` (the learning rate of that step); at each evaluation `val/<metric>` for every
number of the evaluation (`val/coarse_pck_0.05`, `val/cascade_pck_0.05`, ...: "@" written as "_"), and the config as
text. Steps are 1-based (the step count after the update, as the checkpoints and evaluations). The file is flushed
at every checkpoint and closed however the loop ends (finished, interrupted, diverged, an exception); a resumed run
appends a new file whose first event purges the steps after the checkpoint it resumed from.
"""

from __future__ import annotations

from pathlib import Path


class EventLog:
    """TensorBoard scalars of a run through a tensorboardX `SummaryWriter` on `folder`; no-op when folder is None.
    purge_step: TensorBoard hides the earlier files' events of steps >= it (a resumed run: its checkpoint's step + 1).
    `close()` is safe to call more than once."""

    def __init__(self, folder: Path | None, purge_step: int | None = None):
        self._writer = None
        if folder is not None:
            from tensorboardX import SummaryWriter

            folder.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(str(folder), purge_step=purge_step, flush_secs=30)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Write each {tag: value} at `step` (1-based training step)."""
        if self._writer is not None:
            for tag, v in values.items():
                self._writer.add_scalar(tag, float(v), step)

    def text(self, tag: str, text: str, step: int) -> None:
        """Write `text` under `tag` at `step`."""
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def flush(self) -> None:
        """Write what is buffered to the event file."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the writer; later calls do nothing."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def eval_scalars(ev: dict) -> dict[str, float]:
    """An evaluation's numbers as `val/<metric>` tags ("@" -> "_"; per-joint lists and step/stage/loss/people left
    out).

    Args:
      ev: an evaluation's {metric: value} (numbers, lists, step, stage, loss, people: how many were scored).

    Returns:
      {"val/<metric>": float} for every int or float value (bools left out).
    """
    return {"val/" + k.replace("@", "_"): float(v) for k, v in ev.items()
            if k not in ("step", "stage", "loss", "people") and isinstance(v, (int, float)) and not isinstance(v, bool)}
