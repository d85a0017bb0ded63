"""Long runs over files: a run's outputs and checkpoints, worker processes, Dask partitions, progress."""
