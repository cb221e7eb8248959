"""RSA key pairs for the simulators, made once per process and handed out again to the next simulator.

Making a 2048-bit key costs about 0.1 s of CPU, and the tests start hundreds of simulators. A `KeyDraw`
belongs to one simulator: it never hands that simulator the same key twice (rotations and the "unknown
key" faults need a key it has not published), while the next simulator of the same kind starts again
from the first key. Each kind (`truid`, `camara`) has a pool of its own, so no two providers share a key.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from cryptography.hazmat.primitives.asymmetric import rsa

KEY_SIZE = 2048
_pools: defaultdict[str, list[rsa.RSAPrivateKey]] = defaultdict(list)
_pools_lock = threading.Lock()


def _pooled(kind: str, index: int) -> rsa.RSAPrivateKey:
    with _pools_lock:
        pool = _pools[kind]
        while len(pool) <= index:
            pool.append(rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE))
        return pool[index]


class KeyDraw:
    """One simulator's supply of distinct RSA keys."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._next = 0

    def rsa_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            index, self._next = self._next, self._next + 1
        return _pooled(self._kind, index)
