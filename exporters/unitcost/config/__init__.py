"""The config file: one pydantic schema per block (docs/config.md), loaded with errors that
name the file and field. Pure schema: loading a config imports no client library."""
