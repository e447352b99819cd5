"""Validators that turn regex candidates into findings: checksums and numbering rules.

A pattern alone reports every 16-digit order number as a card and every ``ddd-dd-dddd`` as an
SSN. Each validator here takes the matched text and says whether it is a real identifier:
Luhn for cards, ISO 13616 mod-97 for IBANs, the SSA's area/group/serial rules for SSNs,
``phonenumbers`` metadata (or the NANP numbering plan) for phones, ``ipaddress`` for IPs and
``python-stdnum`` for national IDs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from stdnum import iban as _iban
from stdnum.es import nif as _es_nif
from stdnum.fi import hetu as _fi_hetu
from stdnum.gb import nhs as _gb_nhs
from stdnum.in_ import pan as _in_pan
from stdnum.it import codicefiscale as _it_cf
from stdnum.us import itin as _us_itin

Validator = Callable[[str], bool]

_DIGITS = re.compile(r"\D")
_EXT = re.compile(r" ?(?:x|ext\.?) ?(?=\d)", re.IGNORECASE)
# Card issuer prefixes (IIN ranges) of the networks that matter; a Luhn-valid number outside
# them is far more likely an account or order number.
_CARD_IIN = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|2)|35|1800|2131)")
# Maestro's issuer prefixes; Maestro alone issues card numbers of 12 digits (12 to 19).
_MAESTRO_IIN = re.compile(r"^(?:5018|5020|5038|5893|6304|6759|676[1-3]|0604|6390)")
# Published example SSNs and the Woolworth wallet card: valid-looking, never assigned.
_SSN_NEVER = frozenset({"078051120", "219099999", "123456789", "111111111", "457555462"})


def digits(text: str) -> str:
    return _DIGITS.sub("", text)


def luhn(d: str) -> bool:
    """Luhn mod-10 over a digit string (the same result as ``stdnum.luhn``, 10x faster)."""
    total = 0
    for i, c in enumerate(reversed(d)):
        n = ord(c) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def credit_card(text: str) -> bool:
    """Luhn checksum, a known issuer prefix and its length (13..19, Maestro 12..19), not all
    one digit."""
    d = digits(text)
    if not 12 <= len(d) <= 19 or len(set(d)) == 1:
        return False
    maestro = _MAESTRO_IIN.match(d) is not None
    if len(d) == 12 and not maestro:
        return False
    return (maestro or _CARD_IIN.match(d) is not None) and luhn(d)


def us_ssn(text: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    d = digits(text)
    if len(d) != 9 or d in _SSN_NEVER or len(set(d)) == 1:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


@lru_cache(maxsize=512)
def _iban_bban(country: str) -> re.Pattern[str] | None:
    """The BBAN structure of ``country`` from python-stdnum's IBAN registry (cached)."""
    info = _iban._ibandb.info(country)
    structure = info[0][1].get("bban") if info and info[0][1] else None
    return _iban._struct_to_re(structure) if structure else None


def iban(text: str) -> bool:
    """ISO 13616: mod-97 == 1, a known country and its BBAN structure (python-stdnum's
    registry), then stdnum's country-specific check where one exists."""
    number = text.replace(" ", "").upper()
    if len(number) < 15 or not number[:2].isalpha() or not number[2:4].isdigit():
        return False
    try:
        value = int("".join(str(int(c, 36)) for c in number[4:] + number[:4]))
    except ValueError:
        return False
    if value % 97 != 1:
        return False
    bban = _iban_bban(number[:2])
    if bban is None or not bban.match(number[4:]):
        return False
    module = _iban._get_cc_module(number[:2])
    return module is None or bool(module.is_valid(number))


def _nanp(national: str) -> bool:
    # NANP: NPA and NXX start 2-9, the NPA is not an N11 service code.
    return (len(national) == 10 and national[0] in "23456789" and national[3] in "23456789"
            and national[1:3] != "11")


def _nanp_grouping(text: str) -> bool:
    """Written the North American way: 3-3-4 digits (``4328 132169`` is not), after a 1."""
    sizes = [len(g) for g in re.findall(r"\d+", text)]
    if sizes[:1] == [1] and len(sizes) > 1:
        sizes = sizes[1:]
    return sizes in ([3, 3, 4], [3, 7], [10])


def phone(text: str, region: str = "US") -> bool:
    """A well-formed NANP number, or one ``phonenumbers`` knows as valid for its country.

    North American numbers (no ``+``, or ``+1``) are checked against the numbering plan
    directly, which is what ``phonenumbers`` would do but 50x faster; only other international
    numbers go through ``phonenumbers``' metadata.
    """
    head = _EXT.split(text, maxsplit=1)[0]
    d = digits(head)
    if len(d) < 7:
        return False
    stripped = head.lstrip()
    if not stripped.startswith("+") or stripped.startswith(("+1 ", "+1-", "+1.", "+1(")):
        if region == "US":
            national = d[1:] if len(d) == 11 and d[0] == "1" else d
            return _nanp(national) and _nanp_grouping(head)
    try:
        number = phonenumbers.parse(head, region)
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.is_valid_number(number):
        return True
    return number.country_code == 1 and _nanp(str(number.national_number))


def ip_address(text: str) -> bool:
    if ":" not in text:  # dotted quad: cheaper than ipaddress, same answer
        parts = text.split(".")
        return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255
                                       for p in parts)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    # "::" and "::1"-style shorthands are too short to be identifying text; keep real ones.
    return addr.version == 4 or text.count(":") >= 2 and len(text) >= 6


def email(text: str) -> bool:
    local, _, domain = text.rpartition("@")
    labels = domain.split(".")
    return (0 < len(local) <= 64 and len(labels) >= 2 and labels[-1].isalpha()
            and all(labels) and not local.startswith(".") and ".." not in local)


def _stdnum(module: object) -> Validator:
    def check(text: str) -> bool:
        return bool(module.is_valid(text))  # type: ignore[attr-defined]

    return check


def us_itin(text: str) -> bool:
    return bool(_us_itin.is_valid(text))


uk_nhs = _stdnum(_gb_nhs)
es_nif = _stdnum(_es_nif)
it_fiscal_code = _stdnum(_it_cf)
in_pan = _stdnum(_in_pan)
fi_hetu = _stdnum(_fi_hetu)
