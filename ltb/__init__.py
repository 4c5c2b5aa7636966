"""livetranslate-batch: the parts that the API, the workers and the emulator share."""

__version__ = "0.1.0"
