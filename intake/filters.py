"""What the intake does to an API user's prompt before it joins a labeling pool, without Django: personal
data masked (or the prompt refused), and the key that deduplicates prompts sharing a long common prefix."""
from __future__ import annotations

import hashlib
import re

# Prompts whose normalised text agrees on this many first characters are duplicates (InstructGPT
# deduplicated its API prompts "by checking for prompts that share a long common prefix"); shorter prompts
# are duplicates only when their whole normalised text is the same.
COMMON_PREFIX_CHARS = 64

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^\s/:@]+:[^\s/@]+@", re.IGNORECASE)
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# A run of digits with the separators people write phone and card numbers with; how many digits it has
# decides what it is (a year or a price is too short to be either).
DIGIT_RUN = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{7,}\d(?![\w])")


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _digit_run(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    if 13 <= len(digits) <= 19 and _luhn(digits):
        return "[CARD]"
    if 9 <= len(digits) <= 15:
        return "[PHONE]"
    return match.group()


def mask_personal_data(text: str) -> tuple[str, list[str]]:
    """`text` with e-mail addresses, phone and payment card numbers, social security numbers, IBANs, IP
    addresses and credentials in URLs replaced by [EMAIL], [PHONE], [CARD], [SSN], [IBAN], [IP] and
    [CREDENTIALS]; and the kinds that were found, in that order."""
    found = []
    for kind, pattern, replacement in (("CREDENTIALS", URL_CREDENTIALS, r"\1[CREDENTIALS]@"),
                                       ("EMAIL", EMAIL, "[EMAIL]"), ("SSN", SSN, "[SSN]"), ("IBAN", IBAN, "[IBAN]"),
                                       ("IP", IPV4, "[IP]")):
        text, n = pattern.subn(replacement, text)
        if n:
            found.append(kind)
    masked = DIGIT_RUN.sub(_digit_run, text)
    for kind in ("CARD", "PHONE"):
        if f"[{kind}]" in masked and f"[{kind}]" not in text:
            found.append(kind)
    return masked, found


def mask_messages(messages: list[dict]) -> tuple[list[dict], list[str]]:
    """Every message's content masked; the kinds of personal data found in any of them."""
    found, masked = [], []
    for message in messages:
        content, kinds = mask_personal_data(message["content"])
        masked.append({**message, "content": content})
        found += [kind for kind in kinds if kind not in found]
    return masked, found


def normalised(text: str) -> str:
    """Case, punctuation and spacing do not make a prompt new."""
    return " ".join(re.sub(r"[^\w\[\]]+", " ", text.lower()).split())


def dedup_key(text: str) -> str:
    return hashlib.sha256(normalised(text)[:COMMON_PREFIX_CHARS].encode()).hexdigest()
