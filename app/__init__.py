"""lse-emulator: a local, stateful emulator of the Label Studio Enterprise Prompts inference API."""

__version__ = "0.1.0"
