"""The privacy notice's rules: versions named by their texts, the record of what was shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ilmo_event_contracts import Language
from ilmo_registration.privacy import (
    DEFAULT_NOTICE,
    VERSION_LENGTH,
    NoticeShown,
    PrivacyNoticeChanged,
    consent_for,
    notice,
    require_current,
    shown,
)

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
TEXTS = {Language.FI: "Seloste.", Language.SV: "Beskrivning.", Language.EN: "Notice."}


def test_the_version_is_named_by_the_texts_whatever_their_order_and_padding() -> None:
    first = notice(TEXTS)
    reordered = notice({language: f"  {TEXTS[language]}\n" for language in reversed(Language)})
    assert first.version == reordered.version
    assert len(first.version) == VERSION_LENGTH
    assert int(first.version, 16) >= 0  # hex digits


def test_a_changed_word_in_any_language_is_a_new_version() -> None:
    versions = {notice(TEXTS).version}
    for language in Language:
        versions.add(notice({**TEXTS, language: TEXTS[language] + " Muutettu."}).version)
    assert len(versions) == 1 + len(Language)


def test_a_notice_needs_every_language() -> None:
    with pytest.raises(ValueError, match="sv"):
        notice({Language.FI: "Seloste.", Language.SV: "  ", Language.EN: "Notice."})
    with pytest.raises(ValueError, match="en"):
        notice({Language.FI: "Seloste.", Language.SV: "Beskrivning."})


def test_the_built_in_notice_speaks_every_language_and_names_the_legal_bases() -> None:
    assert DEFAULT_NOTICE.version == notice(DEFAULT_NOTICE.text).version
    assert "6 artiklan 1 kohdan e" in DEFAULT_NOTICE.in_language(Language.FI)
    assert "artikel 6.1 e" in DEFAULT_NOTICE.in_language(Language.SV)
    assert "Article 9(2)(a)" in DEFAULT_NOTICE.in_language(Language.EN)


def test_only_the_version_in_force_is_accepted() -> None:
    current = notice(TEXTS)
    require_current(current.version, current)
    with pytest.raises(PrivacyNoticeChanged) as refused:
        require_current(DEFAULT_NOTICE.version, current)
    assert refused.value.current == current


def test_what_is_recorded_is_the_version_the_language_and_the_time() -> None:
    assert shown(DEFAULT_NOTICE, Language.SV, NOW) == NoticeShown(
        DEFAULT_NOTICE.version, Language.SV, NOW
    )


def test_consent_is_recorded_only_for_needs_given() -> None:
    assert consent_for(None, NOW) is None
    given = consent_for("Induktiosilmukka", NOW)
    assert given is not None
    assert (given.given_at, given.withdrawn_at) == (NOW, None)
