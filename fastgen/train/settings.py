"""The settings of a run and their defaults, in a module without imports: the CLI's help reads
them without waiting for torch (``fastgen.train.runner`` explains the three kinds)."""

EVAL_SAMPLES = {"images": 1000, "points": 2500}  # defaults: the held-out size of the embedded MNIST; VEEGAN's count
MIN_EVAL_SAMPLES = 10  # the Inception Score averages over 10 splits of the samples
# how often a run writes what; saved in config.json and kept by a resume unless given again
CADENCES = {"sample_every": 250, "eval_every": 500, "checkpoint_every": 500, "keep_checkpoints": 2}
DEFAULT_LOGGERS = ("jsonl",)
# what a resumed run must keep, with the value a run saved before the setting existed had: a
# different value would make it another run (another batch order, optimizer state or data)
RUN_SETTINGS = {
    "data": "mnist",
    "data_root": None,
    "image_size": None,
    "channels": None,
    "holdout": None,
    "hflip": False,
    "batch_size": None,
    "lr": None,
    "seed": 0,
    "ema": None,
}
