"""Presidio as an optional analyzer behind cpmap's :class:`~cpmap.privacy.detect.Analyzer`.

Install with ``pip install 'cpmap[presidio]'``. Without a spaCy model Presidio runs pattern-only
(``NoOpNlpEngine``): the same entities as our engine, no PERSON/LOCATION. With a spaCy model the
user installed (``--presidio-model en_core_web_lg``), Presidio's NER adds PERSON, LOCATION and
DATE_TIME in free text. Nothing is downloaded: the e-mail recognizer's ``tldextract`` is pointed
at its bundled public-suffix snapshot instead of fetching the list from the internet.
"""

from __future__ import annotations

import logging
from typing import Any

from cpmap.errors import InputError
from cpmap.privacy.detect import Match, resolve


def _offline_tldextract() -> None:
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class _Offline:
        extract = staticmethod(extractor)

    email_recognizer.tldextract = _Offline  # type: ignore[attr-defined,assignment]


def _engine(model: str | None) -> Any:
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider, NoOpNlpEngine
    except ImportError as e:
        raise InputError("--backend presidio: presidio-analyzer is not installed",
                         hint="pip install 'cpmap[presidio]'") from e
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    _offline_tldextract()
    nlp: Any
    if model is None:
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    else:
        import spacy.util

        if not spacy.util.is_package(model):
            raise InputError(f"--presidio-model {model}: spaCy model not installed",
                             hint=f"python -m spacy download {model} (on a connected machine)")
        nlp = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}],
        }).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


class PresidioAnalyzer:
    """Presidio's ``AnalyzerEngine``; results mapped to :class:`Match` and overlap-resolved."""

    name = "presidio"

    def __init__(self, entities: frozenset[str] | None = None, model: str | None = None,
                 min_score: float = 0.4) -> None:
        self.entities = entities
        self.min_score = min_score
        self._engine = _engine(model)
        # URL is not personal data; 0.4 is Presidio's own score for an unvalidated phone.
        supported = set(self._engine.get_supported_entities(language="en")) - {"URL"}
        self._wanted = sorted(supported if entities is None else supported & entities)

    def analyze(self, text: str) -> list[Match]:
        if not text or not self._wanted:
            return []
        results = self._engine.analyze(text, language="en", entities=self._wanted,
                                       score_threshold=self.min_score)
        return resolve([Match(r.entity_type, r.start, r.end, float(r.score)) for r in results])
