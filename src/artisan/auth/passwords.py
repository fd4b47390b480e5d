"""Argon2id password hashing, run off the event loop in a small bounded pool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from artisan.config import Settings


class Passwords:
    """Hashes and verifies passwords with the configured Argon2id cost.

    Each hash takes a few hundred milliseconds of CPU by design. The async methods run it on a
    pool of PASSWORD_HASH_WORKERS threads (argon2-cffi releases the GIL), so the event loop
    keeps serving other requests, and a burst of sign-ins queues for the pool instead of taking
    every core.
    """

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        )
        # Verified against when the user does not exist, so timing does not reveal accounts.
        self._dummy_hash = self._hasher.hash("not-a-real-password")
        self._pool = ThreadPoolExecutor(
            max_workers=settings.password_hash_workers, thread_name_prefix="argon2"
        )

    def hash(self, password: str) -> str:
        """An Argon2id hash of the password (blocking: for scripts and the CLI)."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether the password matches; spends the same effort when there is no hash."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        """`hash`, on the hashing pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        """`verify`, on the hashing pool (the equal-cost check for unknown users included)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash uses weaker parameters than configured."""
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        """Stop the hashing threads once the queued work is done."""
        self._pool.shutdown(wait=False, cancel_futures=True)
