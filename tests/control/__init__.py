"""Tests of the control plane (/_emulator), each module against its own server process."""
