"""HMAC signing of everything a worker or the client unpickles (or trusts) from Redis.

Whoever can write to Redis must not be able to make a worker run code: cloudpickle payloads execute code
when loaded. Every value the runtime stores for later loading (plan, task outputs, uploaded inputs,
invocations) is ``MAGIC | HMAC-SHA256(key, context | 0 | body) | body``; :func:`loads` checks the tag in
constant time *before* unpickling and raises :class:`SignatureError` for an unsigned or altered value.
``context`` binds a value to its key name, so a valid value cannot be moved to another key either.

The key is per deployment:

* ``PLANSIM_HMAC_KEY`` (hex) in the environment, if set (workers get it from their launcher);
* else ``<state dir>/hmac.key`` (written by :func:`ensure_deployment_key`, i.e. ``plansim runtime up``
  or the first ``plansim run``), mode 0600;
* else a fresh random key for this process only (ad-hoc runs: it is exported to the environment so that
  local worker processes started later inherit it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import cloudpickle

ENV_KEY = "PLANSIM_HMAC_KEY"
KEY_FILE = "hmac.key"
MAGIC = b"PS1"
TAG_LEN = 32
HEADER = len(MAGIC) + TAG_LEN

_key: bytes | None = None


class SignatureError(ValueError):
    """A value read from the store is unsigned, truncated or altered: it is never unpickled."""


def _from_hex(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SignatureError(f"{where}: the HMAC key must be hex") from None
    if len(key) < 16:
        raise SignatureError(f"{where}: the HMAC key must have at least 16 bytes")
    return key


def ensure_deployment_key(state_dir: str | Path | None = None) -> bytes:
    """The deployment key from ``<state dir>/hmac.key``, created (0600) when missing."""
    from runtime.services import default_state_dir

    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    path = directory / KEY_FILE
    if path.exists():
        return _from_hex(path.read_text(), str(path))
    directory.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


def get_key() -> bytes:
    """This process's signing key (see the module docstring for where it comes from)."""
    global _key
    if _key is not None:
        return _key
    env = os.environ.get(ENV_KEY)
    if env:
        _key = _from_hex(env, ENV_KEY)
        return _key
    try:
        _key = ensure_deployment_key()
    except OSError:
        _key = secrets.token_bytes(32)
    os.environ[ENV_KEY] = _key.hex()  # local worker processes inherit it
    return _key


def set_key(key: bytes) -> None:
    """Use ``key`` from now on (tests; workers that receive a key otherwise)."""
    global _key
    if len(key) < 16:
        raise SignatureError("the HMAC key must have at least 16 bytes")
    _key = key
    os.environ[ENV_KEY] = key.hex()


def key_hex() -> str:
    return get_key().hex()


def _tag(body: bytes | memoryview, context: bytes, key: bytes | None) -> bytes:
    mac = hmac.new(key or get_key(), context, hashlib.sha256)
    mac.update(b"\0")
    mac.update(body)
    return mac.digest()


def sign(body: bytes, context: str | bytes = b"", key: bytes | None = None) -> bytes:
    """``body`` with its tag in front."""
    ctx = context.encode() if isinstance(context, str) else context
    return MAGIC + _tag(body, ctx, key) + body


def verify(data: bytes | None, context: str | bytes = b"", key: bytes | None = None) -> memoryview:
    """The body of a signed value; :class:`SignatureError` when it is not signed with our key."""
    ctx = context.encode() if isinstance(context, str) else context
    where = ctx.decode(errors="replace") or "value"
    if data is None:
        raise SignatureError(f"{where}: missing")
    if len(data) < HEADER or not data.startswith(MAGIC):
        raise SignatureError(f"{where}: not a signed plansim value (refusing to load it)")
    view = memoryview(data)
    body = view[HEADER:]
    if not hmac.compare_digest(bytes(view[len(MAGIC) : HEADER]), _tag(body, ctx, key)):
        raise SignatureError(f"{where}: HMAC signature mismatch (value altered or signed with another key)")
    return body


def dumps(obj: Any, context: str | bytes = b"", key: bytes | None = None) -> bytes:
    """cloudpickle ``obj`` (protocol 5) and sign it."""
    return sign(cloudpickle.dumps(obj, protocol=5), context, key)


def loads(data: bytes | None, context: str | bytes = b"", key: bytes | None = None) -> Any:
    """Verify, then unpickle. Never unpickles anything whose signature does not check."""
    return cloudpickle.loads(verify(data, context, key))
