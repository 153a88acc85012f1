"""Deterministic outcomes: the same (seed, version, task) always gives the same prediction."""

import hashlib


def unit(seed: int, salt: str, version_id: int, task_id: int) -> float:
    """A uniform number in [0, 1) fixed by its inputs."""
    digest = hashlib.blake2b(
        f"{seed}:{salt}:{version_id}:{task_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def fails(seed: int, version_id: int, task_id: int, failure_rate: float) -> bool:
    """Whether the prediction of this version on this task fails."""
    return unit(seed, "fail", version_id, task_id) < failure_rate


def correct(seed: int, version_id: int, task_id: int, accuracy: float) -> bool:
    """Whether the prediction of this version on this ground-truth task matches the ground truth."""
    return unit(seed, "correct", version_id, task_id) < accuracy
