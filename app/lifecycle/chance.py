"""Deterministic outcomes: the same (seed, version, task) always gives the same prediction."""

import hashlib

# The hash of each draw's fixed head (seed, salt, version), kept so that a draw hashes only its
# task id on a copy: the same bytes in the same order, so the same number, for less work.
_HEADS: dict[tuple[int, str, int], hashlib.blake2b] = {}
MAX_HEADS = 4096


def head(seed: int, salt: str, version_id: int) -> hashlib.blake2b:
    """The hash of a draw's ``"{seed}:{salt}:{version_id}:"``, before its task id."""
    found = _HEADS.get((seed, salt, version_id))
    if found is None:
        if len(_HEADS) >= MAX_HEADS:
            _HEADS.clear()
        found = _HEADS[seed, salt, version_id] = hashlib.blake2b(
            f"{seed}:{salt}:{version_id}:".encode(), digest_size=8
        )
    return found


def unit_after(head: hashlib.blake2b, task: bytes) -> float:
    """``unit`` with its head hashed already and the task id written (``b"%d" % task_id``)."""
    digest = head.copy()
    digest.update(task)
    return int.from_bytes(digest.digest(), "big") / 2**64


def unit(seed: int, salt: str, version_id: int, task_id: int) -> float:
    """A uniform number in [0, 1) fixed by its inputs: the BLAKE2b digest (8 bytes) of
    ``"{seed}:{salt}:{version_id}:{task_id}"``, as a fraction of 2**64."""
    return unit_after(head(seed, salt, version_id), b"%d" % task_id)
