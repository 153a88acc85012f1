"""The emulator's own control plane, everything under /_emulator: not part of Label Studio's API."""
