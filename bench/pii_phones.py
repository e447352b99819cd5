"""National-format phone numbers: a labelled evaluation set, and cpmap vs Presidio on it.

The set (``tests/assets/privacy/phones_eval.jsonl``, written by ``python -m bench.pii_phones
--write``) holds, per country, sentences in the country's language with phone numbers written
without ``+`` (some after a phone word, most not), table columns of such numbers (some under a
header that names phones, some under a neutral one), and hard negatives in the same language:
order and invoice numbers, dates, times, postcodes, amounts, ISBNs, version strings, bank
sort codes, SSN-like ids. Phone values come from Faker's locale providers (their formats are
Faker's, not cpmap's; about a fifth are numbers ``phonenumbers`` calls invalid, kept as labelled
phones because a person would read them as phones) and the issue's own examples. Seeded.

Scoring: a predicted PHONE_NUMBER span is a true positive when it covers at least 80% of a gold
span's characters; any other prediction is a false positive; an uncovered gold span is a false
negative. Table columns are analyzed the way ``cpmap privacy scan`` does (values joined, one
pass; cpmap tunes the analyzer to the column, Presidio gets the same text). Rates come with
Wilson 95% intervals.

Run: ``python -m bench.pii_phones`` (prints the table; ``bench.pii`` writes it to the docs).
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ASSET = Path(__file__).resolve().parents[1] / "tests" / "assets" / "privacy" / "phones_eval.jsonl"
# country -> (Faker locale, language templates key)
COUNTRIES = {
    "GB": ("en_GB", "en"), "AU": ("en_AU", "en"), "IN": ("en_IN", "en"),
    "FR": ("fr_FR", "fr"), "BE": ("nl_BE", "nl"), "NL": ("nl_NL", "nl"), "DE": ("de_DE", "de"),
    "AT": ("de_AT", "de"), "CH": ("de_CH", "de"), "ES": ("es_ES", "es"), "MX": ("es_MX", "es"),
    "IT": ("it_IT", "it"), "PT": ("pt_PT", "pt"), "BR": ("pt_BR", "pt"), "PL": ("pl_PL", "pl"),
    "SE": ("sv_SE", "sv"), "DK": ("da_DK", "da"), "JP": ("ja_JP", "ja"),
}
ISSUE_EXAMPLES = {"GB": ["07700 900123"], "BE": ["0490 75 40 81"], "FR": ["0490 75 40 81"],
                  "ES": ["699 956 915"], "BR": ["(11) 91234-5678"]}
# Sentences: {p} is the phone. The first two carry a phone word, the rest do not.
TEMPLATES = {
    "en": ["Please call me on {p} after six.", "Tel: {p} (office hours only).",
           "You can reach the landlord at {p} or by letter.", "Her number is {p}, she said.",
           "Leave a message on {p} if nobody answers.", "{p} is the best number for Tom.",
           "The surgery moved; the new number {p} works from Monday."],
    "fr": ["Appelez-moi au {p} après 18h.", "Tél. : {p} (du lundi au vendredi).",
           "Vous pouvez joindre le propriétaire au {p} ou par courrier.",
           "Son numéro est le {p}, m'a-t-elle dit.", "Laissez un message au {p} si personne ne "
           "répond.", "Le {p} est le meilleur numéro pour joindre Paul.",
           "Le cabinet a déménagé, le nouveau numéro {p} est actif dès lundi."],
    "nl": ["Bel me op {p} na zes uur.", "Telefoon: {p} (alleen tijdens kantooruren).",
           "U kunt de verhuurder bereiken op {p} of per brief.", "Haar nummer is {p}, zei ze.",
           "Spreek een bericht in op {p} als er niemand opneemt.",
           "Het nieuwe nummer van de praktijk is {p} vanaf maandag."],
    "de": ["Rufen Sie mich unter {p} nach sechs an.", "Telefon: {p} (nur zu Bürozeiten).",
           "Sie erreichen den Vermieter unter {p} oder per Brief.",
           "Ihre Nummer ist {p}, sagte sie.", "Hinterlassen Sie eine Nachricht unter {p}, "
           "wenn niemand abnimmt.", "Die Praxis ist umgezogen, die neue Nummer {p} gilt ab "
           "Montag."],
    "es": ["Llámame al {p} después de las seis.", "Teléfono: {p} (solo en horario de oficina).",
           "Puede contactar con el propietario en el {p} o por carta.",
           "Su número es el {p}, me dijo.", "Deje un mensaje en el {p} si nadie contesta.",
           "La consulta se ha mudado, el nuevo número {p} funciona desde el lunes."],
    "it": ["Chiamami al {p} dopo le sei.", "Tel. {p} (solo in orario d'ufficio).",
           "Potete contattare il proprietario al {p} o per lettera.",
           "Il suo numero è {p}, mi ha detto.", "Lasciate un messaggio al {p} se nessuno "
           "risponde.", "Lo studio si è trasferito, il nuovo numero {p} è attivo da lunedì."],
    "pt": ["Ligue-me para o {p} depois das seis.", "Telefone: {p} (apenas em horário "
           "comercial).", "Pode contactar o senhorio pelo {p} ou por carta.",
           "O número dela é {p}, disse-me.", "Deixe uma mensagem no {p} se ninguém atender.",
           "A clínica mudou, o novo número {p} funciona a partir de segunda."],
    "pl": ["Proszę dzwonić pod {p} po szóstej.", "Tel. {p} (tylko w godzinach pracy).",
           "Z właścicielem można się skontaktować pod {p} lub listownie.",
           "Jej numer to {p}, powiedziała.", "Proszę zostawić wiadomość pod {p}, jeśli nikt "
           "nie odbiera."],
    "sv": ["Ring mig på {p} efter sex.", "Telefon: {p} (endast kontorstid).",
           "Du når hyresvärden på {p} eller per brev.", "Hennes nummer är {p}, sa hon.",
           "Lämna ett meddelande på {p} om ingen svarar."],
    "da": ["Ring til mig på {p} efter seks.", "Telefon: {p} (kun i kontortiden).",
           "Du kan kontakte udlejeren på {p} eller pr. brev.", "Hendes nummer er {p}, sagde hun.",
           "Læg en besked på {p}, hvis ingen svarer."],
    "ja": ["{p} にお電話ください。", "電話: {p} (平日のみ)", "担当者の番号は {p} です。",
           "連絡先 {p} まで。"],
}
# Hard negatives: {n} is filled per kind; every language gets every kind.
NEGATIVES = {
    "en": ["Order {order} was shipped on {date} at {time}.", "Invoice {invoice}: total {amount}.",
           "Send it to {zip} before {date}.", "See ISBN {isbn}, page {page}.",
           "Upgraded to version {version} (build {build}).", "Sort code {sortcode}, account "
           "{account}.", "Case ref {order} opened {date}.", "The census counted {population} "
           "people in {year}."],
    "fr": ["La commande {order} est partie le {date} à {time}.", "Facture {invoice} : total "
           "{amount}.", "Envoyer au {zip} avant le {date}.", "Voir ISBN {isbn}, page {page}.",
           "Mise à jour vers la version {version} (build {build}).", "Dossier n° {order} ouvert "
           "le {date}.", "Le recensement a compté {population} habitants en {year}."],
    "nl": ["Bestelling {order} is verzonden op {date} om {time}.", "Factuur {invoice}: totaal "
           "{amount}.", "Opsturen naar {zip} voor {date}.", "Zie ISBN {isbn}, pagina {page}.",
           "Bijgewerkt naar versie {version} (build {build}).", "De telling kwam op "
           "{population} inwoners in {year}."],
    "de": ["Bestellung {order} wurde am {date} um {time} verschickt.", "Rechnung {invoice}: "
           "Summe {amount}.", "Bitte an {zip} vor dem {date} senden.", "Siehe ISBN {isbn}, "
           "Seite {page}.", "Aktualisiert auf Version {version} (Build {build}).",
           "Aktenzeichen {order} vom {date}.", "Die Zählung ergab {population} Einwohner im "
           "Jahr {year}."],
    "es": ["El pedido {order} salió el {date} a las {time}.", "Factura {invoice}: total "
           "{amount}.", "Enviar al {zip} antes del {date}.", "Ver ISBN {isbn}, página {page}.",
           "Actualizado a la versión {version} (build {build}).", "El censo contó "
           "{population} habitantes en {year}."],
    "it": ["L'ordine {order} è partito il {date} alle {time}.", "Fattura {invoice}: totale "
           "{amount}.", "Spedire a {zip} entro il {date}.", "Vedi ISBN {isbn}, pagina {page}.",
           "Aggiornato alla versione {version} (build {build}).", "Il censimento ha contato "
           "{population} abitanti nel {year}."],
    "pt": ["A encomenda {order} saiu em {date} às {time}.", "Fatura {invoice}: total "
           "{amount}.", "Enviar para {zip} antes de {date}.", "Ver ISBN {isbn}, página {page}.",
           "Atualizado para a versão {version} (build {build}).", "O censo contou "
           "{population} habitantes em {year}."],
    "pl": ["Zamówienie {order} wysłano {date} o {time}.", "Faktura {invoice}: razem {amount}.",
           "Wysłać na {zip} przed {date}.", "Zob. ISBN {isbn}, strona {page}."],
    "sv": ["Order {order} skickades {date} kl. {time}.", "Faktura {invoice}: totalt {amount}.",
           "Skicka till {zip} före {date}.", "Se ISBN {isbn}, sida {page}."],
    "da": ["Ordre {order} blev sendt {date} kl. {time}.", "Faktura {invoice}: i alt {amount}.",
           "Send til {zip} før {date}.", "Se ISBN {isbn}, side {page}."],
    "ja": ["注文 {order} は {date} {time} に発送されました。", "請求書 {invoice}: 合計 {amount}"],
}
ISBNS = ["978-3-16-148410-0", "0-306-40615-2", "978-0-306-40615-7", "978 1 86197 876 9",
         "979-10-90636-07-1", "3-598-21500-2", "978-88-04-67181-0"]


def _negative_values(r: random.Random, country: str, fake: object) -> dict[str, str]:
    """One value of each hard-negative kind, in the country's conventions."""
    f: object = fake
    d, m, y = r.randint(1, 28), r.randint(1, 12), r.randint(1990, 2030)
    sep = r.choice([".", "/", "-"])
    date = r.choice([f"{d:02d}{sep}{m:02d}{sep}{y}", f"{y}-{m:02d}-{d:02d}",
                     f"{d:02d}{sep}{m:02d}{sep}{y % 100:02d}"])
    euros = f"{r.randint(1, 999)}.{r.randint(0, 999):03d},{r.randint(0, 99):02d}"
    amount = r.choice([f"{euros} €", f"€ {r.randint(100, 99999):,}.{r.randint(0, 99):02d}",
                       f"{r.randint(1, 999)} {r.randint(0, 999):03d} {r.randint(0, 999):03d} "
                       "EUR", f"R$ {euros}", f"${r.randint(1000, 999999):,}.00",
                       f"{r.randint(10, 999)} {r.randint(0, 999):03d},{r.randint(0, 99):02d} €"])
    order = r.choice([f"{r.randint(10**9, 10**10 - 1)}", f"0{r.randint(10**8, 10**9 - 1)}",
                      f"{r.randint(1000, 9999)}-{r.randint(1000, 9999)}-{r.randint(10, 99)}",
                      f"{y}{m:02d}{d:02d}-{r.randint(1000, 9999)}",
                      f"{r.randint(100, 999)} {r.randint(100, 999)} {r.randint(1000, 9999)}"])
    return {
        "order": order, "invoice": f"{y}-{r.randint(10**5, 10**6 - 1)}", "date": date,
        "time": r.choice([f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
                          f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
                          f"{r.randint(0, 23)}h{r.randint(0, 59):02d}"]),
        "amount": amount, "zip": str(f.postcode()),  # type: ignore[attr-defined]
        "isbn": r.choice(ISBNS), "page": str(r.randint(1, 999)),
        "version": r.choice([f"{r.randint(0, 20)}.{r.randint(0, 40)}.{r.randint(0, 200)}",
                             f"v{r.randint(1, 12)}.{r.randint(0, 9)}.{r.randint(0, 99)}-rc1"]),
        "build": f"{y}.{m:02d}.{d:02d}.{r.randint(1, 9)}",
        "sortcode": f"{r.randint(10, 99)}-{r.randint(10, 99)}-{r.randint(10, 99)}",
        "account": f"{r.randint(10**7, 10**8 - 1)}",
        "population": f"{r.randint(1, 99)} {r.randint(0, 999):03d} {r.randint(0, 999):03d}",
        "year": str(y),
    }


def _phones(country: str, n: int, seed: int) -> list[str]:
    import phonenumbers
    from faker import Faker
    from phonenumbers import PhoneMetadata

    locale = COUNTRIES[country][0]
    fake = Faker(locale, use_weighting=False)
    fake.seed_instance(seed)
    out: list[str] = list(ISSUE_EXAMPLES.get(country, []))
    code = f"+{phonenumbers.country_code_for_region(country)}"
    trunk = (PhoneMetadata.metadata_for_region(country).national_prefix or "")
    while len(out) < n:
        value = str(fake.phone_number()).strip()
        if value.startswith(code + " "):  # es_ES writes only "+34 ...": the national part
            value = trunk + value[len(code):].strip()
        if value.startswith(("+", "00")) or sum(c.isdigit() for c in value) < 7:
            continue  # international or service numbers: not what this set measures
        if "x" in value.lower():
            continue  # extensions
        out.append(value)
    return out


def build(seed: int = 7) -> list[dict[str, object]]:
    from faker import Faker

    rows: list[dict[str, object]] = []
    for ci, (country, (locale, lang)) in enumerate(COUNTRIES.items()):
        r = random.Random(seed * 100 + ci)
        phones = _phones(country, 60, seed + ci)
        templates = TEMPLATES[lang]
        for i, p in enumerate(phones[:36]):
            t = templates[i % len(templates)]
            text = t.replace("{p}", p)
            start = t.index("{p}")
            rows.append({"kind": "text", "country": country, "text": text,
                         "spans": [[start, start + len(p)]]})
        fake = Faker(locale, use_weighting=False)
        fake.seed_instance(seed + ci)
        for i in range(24):
            t = NEGATIVES[lang][i % len(NEGATIVES[lang])]
            values = _negative_values(r, country, fake)
            rows.append({"kind": "text", "country": country, "text": t.format(**values),
                         "spans": []})
        column = phones[36:60]
        rows.extend({"kind": "column", "country": country, "header": header,
                     "values": column, "labels": [True] * len(column)}
                    for header in ("telephone", "contact"))
        for header, kind in (("order_id", "order"), ("postcode", "zip"), ("amount", "amount"),
                             ("created", "date"), ("isbn", "isbn"), ("account", "account")):
            values = [_negative_values(r, country, fake)[kind] for _ in range(20)]
            rows.append({"kind": "column", "country": country, "header": header,
                         "values": values, "labels": [False] * len(values)})
    return rows


def write(path: Path = ASSET) -> None:
    rows = build()
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(f"wrote {path}: {len(rows)} rows")


def load(path: Path = ASSET) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


Spans = list[tuple[int, int]]


def _covers(pred: tuple[int, int], gold: tuple[int, int]) -> bool:
    inter = min(pred[1], gold[1]) - max(pred[0], gold[0])
    return inter >= 0.8 * (gold[1] - gold[0])


def score(rows: list[dict[str, object]], text_fn: Callable[[str], Spans],
          column_fn: Callable[[list[str], str], Spans]) -> dict[str, Counter[str]]:
    """Per country: tp, fp, fn, plus the hard-negative items predicted as phones."""
    out: dict[str, Counter[str]] = {}
    for row in rows:
        c = out.setdefault(str(row["country"]), Counter())
        if row["kind"] == "text":
            text = str(row["text"])
            gold = [(int(a), int(b)) for a, b in row["spans"]]  # type: ignore[attr-defined]
            items = [(text_fn(text), gold)]
            c["negatives"] += not gold
        else:
            values = [str(v) for v in row["values"]]  # type: ignore[attr-defined]
            joined = "\n".join(values)
            starts, pos = [], 0
            for v in values:
                starts.append(pos)
                pos += len(v) + 1
            preds = column_fn(values, str(row["header"]))
            labels = row["labels"]  # type: ignore[assignment]
            items = [([(s - st, e - st) for s, e in preds if st <= s < st + len(v)],
                      [(0, len(v))] if lab else [])
                     for v, st, lab in zip(values, starts, labels, strict=True)]  # type: ignore[arg-type]
            c["negatives"] += sum(not lab for lab in labels)  # type: ignore[attr-defined]
            del joined
        for pred, gold in items:
            hit = set()
            for p in pred:
                match = [i for i, g in enumerate(gold) if _covers(p, g)]
                if match:
                    hit.update(match)
                    c["tp"] += 1
                else:
                    c["fp"] += 1
                    c["fp_neg"] += not gold
            c["fn"] += len(gold) - len(hit)
            c["gold"] += len(gold)
    return out


def wilson(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    z, p = 1.96, k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return f"{p:.2f} [{max(0, centre - half):.2f}, {min(1, centre + half):.2f}]"


def cpmap_fns() -> tuple[Callable[[str], Spans], Callable[[list[str], str], Spans]]:
    from cpmap.privacy.columns import header_entity
    from cpmap.privacy.detect import RegexAnalyzer

    a = RegexAnalyzer(frozenset({"PHONE_NUMBER"}))

    def text(t: str) -> Spans:
        return [(m.start, m.end) for m in a.analyze(t)]

    def column(values: list[str], header: str) -> Spans:
        tuned = a.for_column(values, header_entity(header), header)
        return [(m.start, m.end) for m in tuned.analyze("\n".join(values))]

    return text, column


def presidio_fns() -> tuple[Callable[[str], Spans], Callable[[list[str], str], Spans]]:
    from cpmap.privacy.presidio_backend import _engine

    engine = _engine(None)

    def text(t: str) -> Spans:
        return [(r.start, r.end) for r in engine.analyze(t, language="en",
                                                         entities=["PHONE_NUMBER"])]

    def column(values: list[str], header: str) -> Spans:
        return text("\n".join(values))

    return text, column


def table(rows: list[dict[str, object]]) -> str:
    ours, theirs = score(rows, *cpmap_fns()), score(rows, *presidio_fns())
    from cpmap.privacy.phones import DEFAULT_REGIONS

    lines = ["| country | phones | hard negatives | cpmap precision | cpmap recall | Presidio "
             "precision | Presidio recall |", "|---|---|---|---|---|---|---|"]
    total_o: Counter[str] = Counter()
    total_p: Counter[str] = Counter()
    for country in COUNTRIES:
        o, p = ours[country], theirs[country]
        total_o.update(o)
        total_p.update(p)
        mark = "" if country in DEFAULT_REGIONS else " (not a default region)"
        lines.append(f"| {country}{mark} | {o['gold']} | {o['negatives']} | "
                     f"{wilson(o['tp'], o['tp'] + o['fp'])} | {wilson(o['tp'], o['gold'])} | "
                     f"{wilson(p['tp'], p['tp'] + p['fp'])} | {wilson(p['tp'], p['gold'])} |")
    o, p = total_o, total_p
    lines.append(f"| **all** | {o['gold']} | {o['negatives']} | "
                 f"**{wilson(o['tp'], o['tp'] + o['fp'])}** | **{wilson(o['tp'], o['gold'])}** |"
                 f" {wilson(p['tp'], p['tp'] + p['fp'])} | {wilson(p['tp'], p['gold'])} |")
    lines.append("")
    lines.append(f"Hard negatives reported as phones: cpmap {o['fp_neg']} of {o['negatives']}, "
                 f"Presidio {p['fp_neg']} of {p['negatives']}.")
    return "\n".join(lines)


HELD_OUT_SEED = 11


def section() -> str:
    """The docs section: the committed set, then a held-out one generated with another seed
    (same templates, new numbers and negatives; never looked at while tuning)."""
    from bench.common import machine

    dev, held = load(), build(HELD_OUT_SEED)
    return f"""## National-format phone numbers vs Presidio (pattern-only)

Measured by `python -m bench.pii` on {machine()}. The labelled set is cpmap's own
(`tests/assets/privacy/phones_eval.jsonl`, made by `bench/pii_phones.py`): per country, 36
sentences in its language with a phone number written without `+`, two 24-value columns of
numbers (headers `telephone` and `contact`) and 144 hard negatives (order, invoice and case
numbers, dates, times, postcodes, amounts, ISBNs, versions, sort codes and accounts, population
counts; in text and in columns named after them). Numbers come from Faker's locale providers
and the issue's examples; about a fifth are numbers `phonenumbers` calls invalid, still
labelled phones. A prediction counts when it covers 80% of a gold span. Rates with Wilson 95%
intervals. cpmap's default `phone_regions` are used; DK and JP are not in them. Presidio
{_version("presidio-analyzer")} with `NoOpNlpEngine`, entity PHONE_NUMBER, default threshold.

**The set cpmap was tuned on** (seed 7, committed):

{table(dev)}

**Held out** (seed {HELD_OUT_SEED}: the same templates with other numbers and negatives,
generated at run time and not used while tuning; the templates themselves were seen):

{table(held)}
"""


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--write" in args:
        write()
        return
    print(section())


if __name__ == "__main__":
    main()
