"""Jobs: submit, read, list, cancel, retry."""
