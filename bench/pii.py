"""PII detection: cpmap's engine vs Presidio (pattern-only, NoOpNlpEngine) on one corpus.

A seeded labelled corpus of Faker prose with inserted identifiers (e-mail, phone, card, SSN,
IBAN, IPv4/IPv6 in several formats) and distractors that must *not* be reported (Luhn-invalid
card-like numbers, SSNs with area 000/666/9xx, order numbers, times, versions, dates). Both
engines analyze the same documents one by one, restricted to the six entities; a prediction is
a true positive when it overlaps a gold span of the same entity. Throughput is corpus MB over
analysis wall time (single thread).

Run: ``python -m bench.pii [--docs N]``; writes the PII sections of docs/benchmarks/cp2.md
(this corpus, and the national-format phone set of :mod:`bench.pii_phones`).
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable

from bench.common import RESULTS, machine

ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")
AREA = ["212", "415", "617", "312", "206", "303", "512", "404", "305", "702", "646", "213"]
Doc = tuple[str, list[tuple[str, int, int]]]


def _phone(r: random.Random) -> str:
    a, ex = r.choice(AREA), f"{r.randint(2, 9)}{r.randint(0, 99):02d}"
    ln = f"{r.randint(0, 9999):04d}"
    fmt = r.randrange(6)
    if fmt == 5:
        import phonenumbers

        region = r.choice(["GB", "DE", "FR"])
        ex_num = phonenumbers.example_number(region)
        return phonenumbers.format_number(ex_num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return [f"({a}) {ex}-{ln}", f"{a}-{ex}-{ln}", f"{a}.{ex}.{ln}", f"+1 {a} {ex} {ln}",
            f"+1-{a}-{ex}-{ln}"][fmt]


def _card(r: random.Random, fake: object) -> str:
    from cpmap.privacy.validators import credit_card

    while True:
        d = fake.credit_card_number()  # type: ignore[attr-defined]
        if 13 <= len(d) <= 19 and credit_card(d):
            break
    if len(d) == 16 and r.random() < 0.6:
        sep = r.choice([" ", "-"])
        return sep.join(d[i:i + 4] for i in range(0, 16, 4))
    return str(d)


def _ssn(r: random.Random) -> str:
    area = r.choice([r.randint(1, 665), r.randint(667, 899)])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def _value(entity: str, r: random.Random, fake: object) -> str:
    f: object = fake
    if entity == "EMAIL_ADDRESS":
        return str(f.email())  # type: ignore[attr-defined]
    if entity == "PHONE_NUMBER":
        return _phone(r)
    if entity == "CREDIT_CARD":
        return _card(r, fake)
    if entity == "US_SSN":
        return _ssn(r)
    if entity == "IBAN_CODE":
        iban = str(f.iban())  # type: ignore[attr-defined]
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if r.random() < 0.4 \
            else iban
    return str(f.ipv4_public() if r.random() < 0.6 else f.ipv6())  # type: ignore[attr-defined]


def _distractor(r: random.Random) -> str:
    kind = r.randrange(6)
    if kind == 0:  # Luhn-invalid card-like number
        from stdnum import luhn

        while True:
            d = "4" + "".join(str(r.randint(0, 9)) for _ in range(15))
            if not luhn.is_valid(d):
                return " ".join(d[i:i + 4] for i in range(0, 16, 4))
    if kind == 1:  # SSN-shaped with an impossible area
        area = r.choice(["000", "666", f"9{r.randint(0, 99):02d}"])
        return f"{area}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"
    if kind == 2:
        return f"order #{r.randint(10**8, 10**9 - 1)}"
    if kind == 3:
        return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    if kind == 4:
        return f"v{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 30)}"
    return f"{r.randint(2000, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"


def corpus(n_docs: int, seed: int = 13) -> list[Doc]:
    from faker import Faker

    r = random.Random(seed)
    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(seed)
    docs: list[Doc] = []
    for _ in range(n_docs):
        text, spans = "", []
        for _s in range(r.randint(3, 7)):
            text += fake.sentence(nb_words=r.randint(6, 14)) + " "
            roll = r.random()
            if roll < 0.45:
                entity = r.choice(ENTITIES)
                value = _value(entity, r, fake)
                text += r.choice(["Contact: ", "ref ", "see ", "value ", ""])
                spans.append((entity, len(text), len(text) + len(value)))
                text += value + ". "
            elif roll < 0.7:
                text += _distractor(r) + ". "
        docs.append((text, spans))
    return docs


def _score(docs: list[Doc], analyze: Callable[[str], list[tuple[str, int, int]]]
           ) -> tuple[float, dict[str, tuple[int, int, int]]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    elapsed = 0.0
    for text, gold in docs:
        start = time.perf_counter()
        pred = analyze(text)
        elapsed += time.perf_counter() - start
        hit = set()
        for e, s, t in pred:
            match = [i for i, (ge, gs, gt) in enumerate(gold) if ge == e and s < gt and gs < t]
            if match:
                hit.update(match)
                tp[e] += 1
            else:
                fp[e] += 1
        for i, (ge, _gs, _gt) in enumerate(gold):
            if i not in hit:
                fn[ge] += 1
    return elapsed, {e: (tp[e], fp[e], fn[e]) for e in ENTITIES}


def _ours() -> Callable[[str], list[tuple[str, int, int]]]:
    from cpmap.privacy.detect import RegexAnalyzer

    a = RegexAnalyzer(frozenset(ENTITIES))
    return lambda text: [(m.entity, m.start, m.end) for m in a.analyze(text)]


def _presidio() -> Callable[[str], list[tuple[str, int, int]]]:
    from cpmap.privacy.presidio_backend import _engine

    engine = _engine(None)
    wanted = list(ENTITIES)
    return lambda text: [(r.entity_type, r.start, r.end)
                         for r in engine.analyze(text, language="en", entities=wanted)]


def _pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def write_section(name: str, body: str) -> None:
    """Replace (or add) one ``<!-- name -->`` section of docs/benchmarks/cp2.md."""
    path = RESULTS / "cp2.md"
    RESULTS.mkdir(parents=True, exist_ok=True)
    page = path.read_text() if path.exists() else "# CP2 benchmarks\n"
    block = f"<!-- {name} -->\n{body.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {name} -->.*?<!-- /{name} -->", re.S)
    page = pattern.sub(lambda _m: block, page) if pattern.search(page) else \
        page.rstrip() + "\n\n" + block + "\n"
    path.write_text(page)
    print(body)


def log_file(path: object, lines: int = 200_000, seed: int = 2) -> None:
    """A seeded application log: timestamps, prose, sometimes an e-mail or an IP."""
    from pathlib import Path

    from faker import Faker

    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(seed)
    r = random.Random(seed)
    words = [fake.sentence(nb_words=12) for _ in range(2000)]
    out = []
    for i in range(lines):
        line = f"2026-11-26T12:{i // 60 % 60:02d}:{i % 60:02d} INFO {r.choice(words)}"
        if r.random() < 0.05:
            line += f" user {fake.email()}"
        if r.random() < 0.03:
            line += f" from {fake.ipv4_public()}"
        out.append(line)
    Path(str(path)).write_text("\n".join(out) + "\n")


def log_throughput(prefix_mb: float = 0.25) -> str:
    """cpmap streams a whole log file; Presidio gets a prefix of it (same lines)."""
    import tempfile
    from pathlib import Path

    from cpmap.privacy.detect import RegexAnalyzer
    from cpmap.privacy.scan import scan_text

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.log"
        log_file(path)
        size = path.stat().st_size / 1e6
        start = time.perf_counter()
        res = scan_text(path, RegexAnalyzer(frozenset(ENTITIES)))
        ours = time.perf_counter() - start
        head = path.read_text()[: int(prefix_mb * 1e6)]
        lines = head.splitlines()
        analyze = _presidio()
        start = time.perf_counter()
        for i in range(0, len(lines), 200):
            analyze("\n".join(lines[i:i + 200]))
        theirs = time.perf_counter() - start
    return (f"| cpmap, whole file streamed | {size:.1f} | {ours:.2f} | {size / ours:.2f} |\n"
            f"| Presidio, first {prefix_mb} MB in 200-line batches | {prefix_mb} | {theirs:.2f} | "
            f"{prefix_mb / theirs:.3f} |\n\ncpmap found {sum(res.hit_counts.values())} "
            f"identifiers in the log ({dict(res.hit_counts)}).")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[args.index("--docs") + 1]) if "--docs" in args else 1500
    docs = corpus(n)
    mb = sum(len(t.encode()) for t, _ in docs) / 1e6
    gold = Counter(e for _, spans in docs for e, _s, _t in spans)
    t_ours, ours = _score(docs, _ours())
    t_pres, pres = _score(docs, _presidio())
    rows = []
    for e in ENTITIES:
        po, ro = _pr(*ours[e])
        pp, rp = _pr(*pres[e])
        rows.append(f"| {e} | {gold[e]} | {po:.3f} | {ro:.3f} | {pp:.3f} | {rp:.3f} |")
    body = f"""## PII detection vs Presidio (pattern-only)

Measured by `python -m bench.pii --docs {n}` on {machine()} (2 shared cores, one thread).
Corpus: {n} seeded documents, {mb:.2f} MB, {sum(gold.values())} labelled identifiers plus
distractors that must not be reported. Presidio {_version('presidio-analyzer')} with
`NoOpNlpEngine`, default score threshold, restricted to the same six entities.

| engine | time (s) | throughput (MB/s) |
|---|---|---|
| cpmap | {t_ours:.3f} | {mb / t_ours:.2f} |
| Presidio | {t_pres:.3f} | {mb / t_pres:.3f} |

cpmap is **{t_pres / t_ours:.0f}x** Presidio's throughput on this corpus.

| entity | gold | cpmap precision | cpmap recall | Presidio precision | Presidio recall |
|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    body += f"""
### Streaming a log file

A seeded 200,000-line application log (timestamps, prose, 5% of lines with an e-mail, 3% with
an IP address). Digit-dense text like this is the slow case for a regex engine.

| engine | MB | time (s) | throughput (MB/s) |
|---|---|---|---|
{log_throughput()}
"""
    write_section("pii", body)
    from bench.pii_phones import section

    write_section("pii-phones", section())


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()
