"""Passwords: argon2id hashes (argon2-cffi), a minimum length, and random passwords for the demo.

argon2id with the library's defaults (RFC 9106 "low memory": 64 MiB, 3 passes) is what OWASP recommends for
new systems; the parameters are stored inside each hash, so raising them later only needs a re-hash at the
next successful sign-in (``needs_rehash``), not a migration. A hash costs about 0.4 s of CPU and 64 MiB on
the 2-core reference machine: callers on the event loop run it in a thread (see ``AuthService.login``).

There is no default password anywhere: the first admin is created by ``firegw users create-admin``, and the
demo makes random ones and prints them.
"""

from __future__ import annotations

import contextlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # long enough for any passphrase, short enough that nobody can make us hash megabytes

#: The hasher in force. Tests may swap in ``PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)``; the
#: hashes stay argon2id and verify under any hasher, because each carries its own parameters.
HASHER = PasswordHasher()

#: Verified when the username is unknown, so that a wrong username costs as long as a wrong password and the
#: response time does not tell which one was wrong. Made on first use with the hasher then in force.
_dummy: tuple[PasswordHasher, str] | None = None


#: Passwords of 10 characters or more that lists of leaked passwords put near the top, and those people in
#: Chinese offices are known to pick (a keyboard row, 520/1314 "I love you for ever", pinyin of 我爱你);
#: compared without case. A short list on purpose: length does most of the work, this stops the obvious.
_COMMON = """
    0000000000 0123456789 1111111111 1234567890 12345678910 123456789a 1234567890a 1234554321 1357924680
    9876543210 a123456789 aa12345678 abc1234567 abcd123456 abcdefghij 1qaz2wsx3edc 1q2w3e4r5t 1qazxsw23edc
    qwertyuiop qwerty1234 qwerty12345 asdfghjkl; asdfghjkl1 zxcvbnm123 1234qwerasdf qweasdzxc123
    password12 password123 password1234 passw0rd12 p@ssw0rd12 p@ssword123 iloveyou12 iloveyou123
    welcome123 letmein123 changeme123 admin12345 admin123456 administrator root123456 test123456
    woaini1314 5201314520 52013145201314 1314520520 woaiwojia123 zhang123456 wang123456
    firegw1234 firegw12345 xiaofang123 xiaofang1234 119119119119
"""
COMMON = frozenset(_COMMON.split())
#: Fewer different characters than this is a pattern, not a password ("aaaaaaaaaa", "ababababab").
MIN_DISTINCT = 5


class PasswordError(ValueError):
    """A password that may not be set (too short, too common, the username); says what is required."""


def check_password(password: str, username: str | None = None) -> None:
    """``PasswordError`` unless ``password`` may be set (for the account ``username``, when given): 10 to
    1024 characters, no spaces around it, at least 5 different characters, not a common password, and not
    the username (nor the username with digits or signs added)."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters (got {len(password)})")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password may have at most {MAX_LENGTH} characters")
    if password != password.strip():
        raise PasswordError("a password may not start or end with spaces (they are easily lost when typed)")
    if len(set(password)) < MIN_DISTINCT:
        raise PasswordError(f"a password needs at least {MIN_DISTINCT} different characters")
    if password.lower() in COMMON:
        raise PasswordError("this password is on the list of common passwords; choose another")
    if username and _letters(password) == _letters(username):
        raise PasswordError("a password may not be the username (with or without digits added)")


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalpha()) or text.lower()


def hash_password(password: str, username: str | None = None) -> str:
    """The argon2id hash of an acceptable password (``PasswordError`` otherwise)."""
    check_password(password, username)
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches. An empty hash (an account that signs in with API tokens only) never
    matches, but costs the same time as a real check."""
    if not password_hash or len(password) > MAX_LENGTH:
        _burn(password[:MAX_LENGTH])
        return False
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than the hasher in force."""
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def _burn(password: str) -> None:
    global _dummy
    if _dummy is None or _dummy[0] is not HASHER:
        _dummy = (HASHER, HASHER.hash(secrets.token_urlsafe(16)))
    with contextlib.suppress(VerificationError, InvalidHashError):
        HASHER.verify(_dummy[1], password)


def generate_password(length: int = 16) -> str:
    """A random password from letters and digits without look-alikes (0/O, 1/l/I), easy to copy by hand."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(max(length, MIN_LENGTH)))
