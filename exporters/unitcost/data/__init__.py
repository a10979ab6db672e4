"""Plain data: the cluster as read (model), the cost model's output (frame), GPU readings, and
the records of health, billing and reloads that sources hand to sinks. No I/O, no logic."""
