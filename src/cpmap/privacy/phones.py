"""Phone numbers in national format (``07700 900123``, ``0490 75 40 81``, ``(11) 91234-5678``).

Without a ``+`` a number means nothing until a country is chosen, and every digit run means
*something* in some country. So a candidate is reported only when

1. ``phonenumbers`` finds it valid (``is_valid_number``) in one of the **candidate regions**:
   countries named near it, the regions of the column's international numbers, the regions of
   the document's language, then the configured default list (``[privacy] phone_regions``);
2. it is written the way that country writes numbers: with the trunk prefix (``0``) where the
   country has one, unless the area code is in parentheses; in at least two digit groups whose
   first group ends where the country's own formatting puts a break (the area code or mobile
   prefix), or is a trunk-prefixed area code of 3-5 digits;
3. it has none of the shapes that numbers which are not phones take: dates, ISBNs, amounts
   (currency sign, thousands grouping), order, invoice or version numbers, a ``#`` before it.

A phone word right before the number (``tel``, ``mobile``, ``Telefon``, ``portable``...), a
table column whose header names phones, or a column whose values are mostly grouped national
numbers stands in for rule 2 (and for rule 3's words): a bare ``0612345678`` after "tel." is a
phone, in an order table it is not. A header naming ids, amounts, dates or codes turns phone
detection off for its column.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

SCORE = 0.7  # below the validated entities (cards, IBANs, SSNs) so overlaps go their way
CONTEXT_SCORE = 0.75  # as an international number: the longer span wins an overlap
DEFAULT_REGIONS = ("GB", "DE", "FR", "ES", "IT", "NL", "BE", "BR", "IN", "AU", "CH", "AT",
                   "PT", "IE", "PL", "SE", "MX")
_NEAR = 100  # characters either side searched for country names
_BEFORE = 32  # characters before a candidate searched for phone and negative words

# Digits in groups separated by one space, dot, hyphen or slash; an optional (area code).
# The lookbehind sits after the first character so that the regex engine can skip straight
# to a digit or "(" (a pattern opening with a lookbehind is tried at every position); the
# possessive run does not backtrack through "2026-11-26T12:00" one digit at a time.
_CANDIDATE = re.compile(
    r"(?:\((?<![\w+#.,/:\-]\()\d{2,5}\)[ .\-]?\d|0(?<![\w+#.,/:\-]0)\(0\) ?\d"
    r"|\d(?<![\w+#.,/:\-]\d))(?:\d|[ .\-](?=\d)|/ ?(?=\d)){5,19}+(?![\w\-]|[.,/:]\d)")
_INTERNATIONAL = re.compile(r"\+[\d ().\-]*$")
_GROUP = re.compile(r"0\(0\)|\(?\d+\)?")
_DATE = re.compile(r"^(?:\d{1,2}([./\-])\d{1,2}\1(?:19|20)?\d\d|(?:19|20)\d\d([./\-])\d{1,2}\2"
                   r"\d{1,2})$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:\.\d{3})+$")  # 1.234.567 (a space is ES/PL/PT style)
# The shapes of a US SSN, a US ZIP+4 and a Brazilian CEP (postcode)
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$|^\d{5}-\d{3,4}$")
_PHONE_WORDS = re.compile(
    r"(?:\b(?:tel|tél|telf|tfn|tlf|fax|gsm|phones?|mobile|mob|cell|cellphone|call|called|"
    r"calling|handy|portable|móvil|movil|cellulare|celular|telefon|telefone|telefoon|"
    r"téléphone|telephone|teléfono|telefono|telefonnummer|rufnummer|contact|contacto|"
    r"contatto|whatsapp|ring|appelez|appeler|appelle|llame|llámame|llamar|chiama|chiamami|"
    r"chiamare|ruf|rufen|anrufen|bel|bellen|ligue|ligar|dzwoń|dzwonić|zadzwoń|puhelin)"
    r"\b\.?|☎|📞|電話)\W{0,4}(?:\w+\W{1,3}){0,3}$", re.IGNORECASE)
# Words right before a number that say what else it is (order, invoice, case, account...).
_NOT_PHONE_WORDS = re.compile(
    r"(?:\b(?:order|invoice|reference|id|isbn|issn|account|acct|iban|bic|sku|serial|ticket|"
    r"case|version|ver|build|v|no|nr|zip|postcode|plz|cep|code|batch|tracking|commande|"
    r"facture|dossier|bestellung|bestellnummer|rechnung|aktenzeichen|kundennummer|auftrag|"
    r"pedido|factura|expediente|ordine|fattura|pratica|bestelling|factuur|encomenda|fatura|"
    r"processo|zamówienie|faktura|ordre|seite|page|pagina|página|strona)\b\.?|\bn[º°]|"
    r"[#№$€£¥₹]|\b(?:eur|usd|gbp|chf|brl|inr)\b|r\$|注文|請求書)"
    r"(?: +(?:ref|no|nr|number|num|nummer|numéro|número|numero|id)\b\.?)?\W{0,3}$",
    re.IGNORECASE)
_AFTER_NOT_PHONE = re.compile(r"^\s?(?:[$€£¥₹%]|(?:eur|usd|gbp|chf|brl|inr|kg|km|m|mm|ms|"
                              r"s|px|mb|gb|kb)\b)", re.IGNORECASE)
# Column headers naming something else that is often made of digits.
_NOT_PHONE_HEADERS = re.compile(
    r"(^|_)(?:id|order|invoice|account|acct|iban|sku|isbn|zip|post_?code|postal|plz|amount|"
    r"price|total|date|created|updated|time|version|serial|tracking|ssn|card|ref)(_|$)")
# The UK's drama range (Ofcom): fictional numbers ``phonenumbers`` calls invalid, but written
# exactly like real ones; test data and labelled sets are full of them.
_GB_DRAMA = re.compile(r"^07700900\d{3}$")


_COUNTRY_NAMES = {
    "GB": "united kingdom|u.k.|uk|england|scotland|wales|britain|british|london",
    "IE": "ireland|irish|éire|dublin", "FR": "france|french|français|française|paris",
    "BE": "belgium|belgique|belgië|belgian|belge|bruxelles|brussels",
    "ES": "spain|españa|spanish|español|madrid|barcelona",
    "DE": "germany|deutschland|german|deutsch|berlin|münchen|munich",
    "IT": "italy|italia|italian|italiano|roma|rome|milano|milan",
    "NL": "netherlands|nederland|holland|dutch|amsterdam",
    "BR": "brazil|brasil|brazilian|brasileiro|são paulo|rio de janeiro",
    "PT": "portugal|portuguese|português|lisboa|lisbon", "IN": "india|indian|mumbai|delhi",
    "AU": "australia|australian|sydney|melbourne", "AT": "austria|österreich|wien|vienna",
    "CH": "switzerland|schweiz|suisse|svizzera|swiss|zürich|zurich|genève|geneva",
    "PL": "poland|polska|polish|warszawa|warsaw", "SE": "sweden|sverige|swedish|stockholm",
    "MX": "mexico|méxico|mexican|mexicano", "DK": "denmark|danmark|danish|københavn",
    "NO": "norway|norge|norwegian|oslo", "FI": "finland|suomi|finnish|helsinki",
    "JP": "japan|japanese|tokyo|日本", "US": "united states|usa|u.s.|u.s.a.|america",
    "CA": "canada|canadian",
}
COUNTRY_OF = {name: region for region, names in _COUNTRY_NAMES.items()
              for name in names.split("|")}
_COUNTRY = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in sorted(
    COUNTRY_OF, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE)


# A handful of the commonest function words per language; a document that uses them is
# written in that language, and its phone numbers likely belong to its countries.
_LANGUAGES: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset("le la les des est une et du pour avec dans sur pas vous nous".split()),
     ("FR", "BE", "CH")),
    (frozenset("der die das und ist nicht mit sich auf für ein eine dem den".split()),
     ("DE", "AT", "CH")),
    (frozenset("el los las del y es una por con para que está muy".split()), ("ES", "MX")),
    (frozenset("il gli della che è per una sono con non del alla".split()), ("IT", "CH")),
    (frozenset("het een en van ik je niet zijn op dat voor met".split()), ("NL", "BE")),
    (frozenset("o os da do não uma com para que é em ao".split()), ("BR", "PT")),
    (frozenset("och att det som är på för med inte jag".split()), ("SE",)),
    (frozenset("i w z na nie się jest do że to jak".split()), ("PL",)),
)
_WORD = re.compile(r"[^\W\d_]+")


def document_regions(text: str, sample: int = 20_000) -> tuple[str, ...]:
    """Regions of the language ``text`` is written in, when one clearly dominates."""
    words = Counter(w.lower() for w in _WORD.findall(text[:sample]))
    scores = sorted(((sum(words[w] for w in stop), regions) for stop, regions in _LANGUAGES),
                    reverse=True)
    (best, regions), (second, _) = scores[0], scores[1]
    return regions if best >= 5 and best >= 2 * second else ()


def country_mentions(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, region)`` of every country (or capital) named in ``text``."""
    return [(m.start(), m.end(), COUNTRY_OF[m.group().lower()]) for m in _COUNTRY.finditer(text)
            if m.group().lower() in COUNTRY_OF]


def nearby_regions(mentions: list[tuple[int, int, str]], start: int, end: int) -> list[str]:
    """Countries named within ``_NEAR`` characters of a candidate, nearest first."""
    i = bisect.bisect_left(mentions, (start - _NEAR - 64, 0, ""))
    hits = []
    for lo, hi, region in mentions[i:]:
        if lo > end + _NEAR:
            break
        if hi >= start - _NEAR:
            hits.append((min(abs(lo - start), abs(hi - end)), region))
    return [region for _d, region in sorted(hits)]


@lru_cache(maxsize=256)
def _lengths(region: str) -> frozenset[int]:
    md = PhoneMetadata.metadata_for_region(region)
    return frozenset(md.general_desc.possible_length) if md and md.general_desc else frozenset()


def column_regions(values: Iterable[str]) -> tuple[str, ...]:
    """Regions of a column's international numbers (``+44 ...``, ``0044 ...``), commonest first."""
    found: Counter[str] = Counter()
    for value in values:
        v = value.strip()
        if not v.startswith(("+", "00")) or sum(c.isdigit() for c in v) < 8:
            continue
        try:
            number = phonenumbers.parse("+" + v[2:] if v.startswith("00") else v, None)
        except phonenumbers.NumberParseException:
            continue
        region = phonenumbers.region_code_for_number(number)
        if region and phonenumbers.is_valid_number(number):
            found[region] += 1
    return tuple(r for r, _n in found.most_common(3))


@lru_cache(maxsize=256)
def _trunk(region: str) -> str | None:
    md = PhoneMetadata.metadata_for_region(region)
    return md.national_prefix if md is not None else None


def _groups(text: str) -> list[str]:
    return _GROUP.findall(text)


def _valid(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != region:
        return None
    if phonenumbers.is_valid_number(number):
        return number
    digits = re.sub(r"\D", "", text)
    return number if region == "GB" and _GB_DRAMA.match(digits) else None


def _breaks(sizes: Iterable[int], offset: int = 0) -> frozenset[int]:
    out, pos = set(), offset
    for n in sizes:
        pos += n
        out.add(pos)
    return frozenset(out)


def _format_breaks(number: phonenumbers.PhoneNumber, region: str) -> list[frozenset[int]]:
    """Where each of the region's formats that fits this number puts its group breaks,
    counted in digits of the national significant number."""
    nsn = phonenumbers.national_significant_number(number)
    md = PhoneMetadata.metadata_for_region(region)
    out = []
    for nf in (*md.number_format, *(md.intl_number_format or ())) if md else ():
        lead = nf.leading_digits_pattern
        if lead and not re.match(lead[-1], nsn):
            continue
        m = re.fullmatch(nf.pattern, nsn)
        if m:
            out.append(_breaks(len(g) for g in m.groups()))
    return out


def _grouped_here(number: phonenumbers.PhoneNumber, groups: list[str], region: str) -> bool:
    """Rule 2's grouping: a trunk-prefixed area code of 3-5 digits first, or groups that one of
    the country's own formats uses (or joins: ``0612 345678`` for ``06 12 34 56 78``)."""
    trunk = _trunk(region)
    sizes = [len(g.strip("()")) for g in groups]
    first = groups[0].strip("()")
    if trunk and first.startswith(trunk) and 3 <= sizes[0] <= 5:
        return True
    extra = sum(sizes) - len(phonenumbers.national_significant_number(number))
    wanted = _breaks(sizes, -extra)  # breaks in national-significant digits (trunk dropped)
    return any(wanted <= allowed | {0} for allowed in _format_breaks(number, region))


def not_a_phone(text: str, start: int, end: int) -> bool:
    """A word before the number, or a unit after it, says it is something else, and no
    phone word says otherwise (used for every phone match, international ones included)."""
    before, after = text[max(0, start - _BEFORE):start], text[end:end + 8]
    if _PHONE_WORDS.search(before):
        return False
    return bool(_NOT_PHONE_WORDS.search(before) or _AFTER_NOT_PHONE.match(after))


def header_negates_phone(header: str) -> bool:
    """A column header naming ids, amounts, dates or codes: digits there are not phones."""
    norm = re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_")
    return _NOT_PHONE_HEADERS.search(norm) is not None


def _other_shape(text: str) -> bool:
    """Rule 3's shapes, whatever the words around: dates, ISBNs, amounts, SSNs, postcodes."""
    if _DATE.match(text) or _THOUSANDS.match(text) or _SSN_SHAPE.match(text):
        return True
    digits = re.sub(r"\D", "", text)
    if "-" in text and len(digits) in (10, 13):
        from stdnum import isbn

        return bool(isbn.is_valid(digits))
    return False


class _Text:
    """What a whole text says about its numbers' countries: its language and the countries
    it names, computed once and only when a candidate gets as far as choosing regions."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def language(self) -> tuple[str, ...]:
        return document_regions(self.text)

    @cached_property
    def mentions(self) -> list[tuple[int, int, str]]:
        return country_mentions(self.text)


@dataclass(frozen=True)
class NationalPhones:
    """Finds national-format phone numbers; ``assume_phone`` when the header names phones."""

    regions: tuple[str, ...] = DEFAULT_REGIONS
    assume_phone: bool = False

    def column_is_phones(self, values: list[str], share: float = 0.3) -> bool:
        """Whether a column's values are mostly grouped national numbers: then its bare
        values (``0612345678``) are phones too, as under a phone header."""
        if not values:
            return False
        sample = values[:200]
        return sum(bool(self.find(v)) for v in sample) >= share * len(sample)

    def find(self, text: str, taken: Sequence[tuple[int, int]] = ()
             ) -> list[tuple[int, int, float]]:
        """``(start, end, score)`` of every national-format phone number in ``text``, except
        candidates overlapping ``taken`` spans (sorted; found by stronger patterns)."""
        out: list[tuple[int, int, float]] = []
        context: _Text | None = None
        starts = [t[0] for t in taken]
        for m in _CANDIDATE.finditer(text):
            i = bisect.bisect_right(starts, m.start())
            if (i and taken[i - 1][1] > m.start()) or (i < len(taken)
                                                         and taken[i][0] < m.end()):
                continue  # a card, an IBAN, an SSN, an international number: already judged
            if _INTERNATIONAL.search(text, max(0, m.start() - 8), m.start()):
                continue  # the rest of a "+33 1 23 45 67 89": the international pattern's
            if context is None:
                context = _Text(text)
            hit = self._best(text, m.start(), m.group(), context)
            if hit is not None:
                out.append(hit)
        return out

    def _best(self, text: str, start: int, value: str, context: _Text
              ) -> tuple[int, int, float] | None:
        """The longest run of whole groups of a candidate that is a phone number; groups are
        dropped only at a space (``75008 01 42 68 53 00``), never inside ``1234-5678-9012``."""
        spans = [(g.start(), g.end()) for g in _GROUP.finditer(value)]
        if sum(c.isdigit() for c in value) > 20:
            return None  # a long digit run is data, not a phone number next to data
        if len(spans) > 2 and len({hi - lo for lo, hi in spans[:-1]}) == 1:
            spans = [(0, len(value))]  # blocks of one size (4540 5616 0601 4109): one number
        cuts = [0] + [i for i in range(1, len(spans)) if value[spans[i][0] - 1] == " "]
        ends = [i for i in range(1, len(spans)) if value[spans[i][0] - 1] == " "]
        ends.append(len(spans))
        ranges = sorted(((i, j) for i in cuts for j in ends if j > i), key=lambda r: r[0] - r[1])
        for i, j in ranges:
            lo, hi = spans[i][0], spans[j - 1][1]
            score = self._judge(text, start + lo, start + hi, context)
            if score:
                return start + lo, start + hi, score
        return None

    def _judge(self, text: str, start: int, end: int, where: _Text) -> float:
        value = text[start:end]
        if value.startswith("0(0)"):  # the trunk written "(0)" after it: 0(0)5 67 79 03 77
            value = "0" + value[4:].lstrip()
        digits = sum(c.isdigit() for c in value)
        if not 7 <= digits <= 13 or value.startswith("00"):
            return 0.0
        before, after = text[max(0, start - _BEFORE):start], text[end:end + 8]
        context = self.assume_phone or _PHONE_WORDS.search(before) is not None
        groups = _groups(value)
        if _other_shape(value):
            return 0.0
        if not context and (len(groups) < 2 or any(len(g.strip("()")) < 2 for g in groups[1:])
                            or _NOT_PHONE_WORDS.search(before) or _AFTER_NOT_PHONE.match(after)):
            return 0.0
        parenthesized, first = groups[0].startswith("("), groups[0].strip("()")
        for region in self._order(where, start, end):
            if parenthesized and first == str(phonenumbers.country_code_for_region(region)):
                if _valid("+" + value.replace("(", "").replace(")", ""), region):
                    return CONTEXT_SCORE if context else SCORE  # "(351) 968 609 348"
                continue
            trunk = _trunk(region)
            if trunk and not (parenthesized or context) and not first.startswith(trunk):
                continue  # rule 2: national format carries the trunk prefix
            nsn = digits - (len(trunk) if trunk and first.startswith(trunk) else 0)
            if nsn not in _lengths(region) and digits not in _lengths(region):
                continue  # cheaper than parsing
            number = _valid(value, region)
            if number is not None and (context or _grouped_here(number, groups, region)):
                return CONTEXT_SCORE if context else SCORE
        return 0.0

    def _order(self, where: _Text, start: int, end: int) -> Iterator[str]:
        seen: set[str] = set()
        for region in (*nearby_regions(where.mentions, start, end), *self.regions,
                       *where.language):
            if region not in seen and region not in ("US", "CA"):  # NANP: the main pattern
                seen.add(region)
                yield region
