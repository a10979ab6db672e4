"""Running processes: the collect loops, HTTP serving, hot reload."""
