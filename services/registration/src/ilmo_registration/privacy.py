"""The privacy notice a registrant is shown, and the one consent Ilmo asks for.

A ministry processes registrations as a public task (GDPR Art. 6(1)(e)), not
on consent: registering does not ask for consent, it records that the person
was shown the event's privacy notice (``NoticeShown``: which version, in
which language, when). Only ``needs`` (accessibility, diet, health) can be
special-category data (Art. 9), so only it asks for explicit consent
(Art. 9(2)(a)): optional, and withdrawable, which erases the needs at once.

A notice's version is the digest of its texts (content addressing): the same
texts always have the same version, a changed word gives a new one, and a
version recorded with a registration names exactly the texts that person
was shown. Every version ever in force is kept (``storage.PrivacyNoticeStore``)
so that the record can be proven years later. An event without a notice of
its own uses ``DEFAULT_NOTICE``; an organiser replaces it per event.

Pure rules and texts; no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ilmo_event_contracts import Language
from ilmo_registration.domain import Refused

# The hex digits of the digest a version keeps: 64 bits name a text well enough
# among the few versions any deployment will ever have.
VERSION_LENGTH = 16
MAX_NOTICE_CHARACTERS = 20_000


@dataclass(frozen=True)
class PrivacyNotice:
    """A privacy notice in all three languages, named by its version."""

    version: str
    text: Mapping[Language, str]

    def in_language(self, language: Language) -> str:
        return self.text[language]


@dataclass(frozen=True)
class NoticeShown:
    """What is recorded with a registration: the notice the person was shown."""

    version: str
    language: Language
    shown_at: datetime


@dataclass(frozen=True)
class NeedsConsent:
    """Explicit consent to process ``needs``: when given, and when withdrawn if it was."""

    given_at: datetime
    withdrawn_at: datetime | None = None


class PrivacyNoticeChanged(Refused):
    """The registrant was shown another version than the event's notice now in force.

    The client shows ``current`` and asks again: nobody is recorded as having
    seen a notice they did not see.
    """

    def __init__(self, current: PrivacyNotice) -> None:
        super().__init__("privacy notice changed")
        self.current = current


def notice(text: Mapping[Language, str]) -> PrivacyNotice:
    """The notice with these texts (one per language), versioned by their digest.

    ValueError unless every language has a text.
    """
    missing = [language.value for language in Language if not text.get(language, "").strip()]
    if missing:
        raise ValueError(f"a privacy notice needs a text in {', '.join(missing)}")
    texts = {language: text[language].strip() for language in Language}
    return PrivacyNotice(notice_version(texts), texts)


def notice_version(text: Mapping[Language, str]) -> str:
    """The digest of the texts, over a canonical JSON form (independent of dict order)."""
    canonical = json.dumps(
        {language.value: text[language] for language in Language},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:VERSION_LENGTH]


def require_current(shown_version: str, current: PrivacyNotice) -> None:
    """PrivacyNoticeChanged unless the version shown is the one in force."""
    if shown_version != current.version:
        raise PrivacyNoticeChanged(current)


def shown(current: PrivacyNotice, language: Language, now: datetime) -> NoticeShown:
    """The record that ``current`` was shown in ``language``, accepted at ``now``."""
    return NoticeShown(current.version, language, now)


def consent_for(needs: str | None, now: datetime) -> NeedsConsent | None:
    """Consent is recorded only where there are needs to consent to."""
    return NeedsConsent(given_at=now) if needs else None


# The notice of an event whose organiser has not written one. It names the
# organiser as the controller, since every event page says who organises it;
# an organiser whose processing differs (other recipients, other periods)
# replaces it for the event.
_DEFAULT_TEXTS = {
    Language.FI: """\
Tietosuojaseloste: ilmoittautuminen tilaisuuteen

Rekisterinpitäjä on tilaisuuden järjestäjä, joka mainitaan tilaisuuden tiedoissa. \
Järjestäjä käyttää ilmoittautumisiin Ilmo-palvelua.

Tarkoitus: ilmoittautumisten vastaanottaminen, paikkojen ja varasijojen jakaminen, \
tilaisuutta koskevat viestit ja henkilökohtainen katselulinkki etäosallistujille.

Oikeusperuste: yleisen edun mukaisen tehtävän suorittaminen (EU:n yleinen \
tietosuoja-asetus, 6 artiklan 1 kohdan e alakohta). Erityistarpeita koskevia \
tietoja käsitellään vain nimenomaisella suostumuksellasi (9 artiklan 2 kohdan \
a alakohta). Voit perua suostumuksen milloin tahansa ilmoittautumisesi \
hallintasivulla, jolloin erityistarpeesi poistetaan heti.

Tiedot: nimi, sähköpostiosoite, organisaatio (vapaaehtoinen), osallistumistapa, \
kieli ja antamasi erityistarpeet.

Säilytys: erityistarpeet poistetaan, kun tilaisuus on päättynyt. Muut \
henkilötiedot poistetaan järjestäjän asettaman ajan kuluttua tilaisuuden \
päättymisestä, oletuksena 90 päivän kuluttua. Tilastoihin jää vain lukumääriä.

Vastaanottajat: tietoja ei luovuteta. Muille viranomaisen järjestelmille \
välitetään vain tietoja, joista sinua ei voi tunnistaa.

Oikeutesi: saat tietää, mitä tietoja sinusta käsitellään, ja voit pyytää niiden \
oikaisemista tai poistamista tai käsittelyn rajoittamista sekä vastustaa \
käsittelyä. Voit perua ilmoittautumisesi hallintasivulla. Voit tehdä valituksen \
tietosuojavaltuutetun toimistolle.""",
    Language.SV: """\
Dataskyddsbeskrivning: anmälan till evenemanget

Personuppgiftsansvarig är evenemangets arrangör, som nämns i uppgifterna om \
evenemanget. Arrangören använder tjänsten Ilmo för anmälningarna.

Ändamål: att ta emot anmälningar, fördela platser och reservplatser, skicka \
meddelanden om evenemanget och en personlig länk till sändningen för dem som \
deltar på distans.

Rättslig grund: utförande av en uppgift av allmänt intresse (EU:s allmänna \
dataskyddsförordning, artikel 6.1 e). Uppgifter om särskilda behov behandlas \
endast med ditt uttryckliga samtycke (artikel 9.2 a). Du kan när som helst \
återkalla samtycket på sidan för din anmälan, och då raderas dina särskilda \
behov genast.

Uppgifter: namn, e-postadress, organisation (frivillig), sätt att delta, språk \
och de särskilda behov du uppger.

Lagring: särskilda behov raderas när evenemanget är slut. Övriga \
personuppgifter raderas efter den tid arrangören har bestämt, som standard 90 \
dagar efter evenemanget. I statistiken blir endast antal kvar.

Mottagare: uppgifterna lämnas inte ut. Andra myndighetssystem får endast \
uppgifter som inte kan identifiera dig.

Dina rättigheter: du har rätt att få veta vilka uppgifter om dig som behandlas, \
att begära rättelse eller radering av dem eller begränsning av behandlingen, \
och att invända mot behandlingen. Du kan annullera din anmälan på sidan för din \
anmälan. Du kan lämna klagomål till dataombudsmannens byrå.""",
    Language.EN: """\
Privacy notice: registering for the event

The controller is the organiser of the event, named in the event's details. \
The organiser uses the Ilmo service for registrations.

Purpose: to receive registrations, allocate seats and waiting-list places, \
send messages about the event, and give remote participants a personal stream \
link.

Legal basis: performance of a task carried out in the public interest (EU \
General Data Protection Regulation, Article 6(1)(e)). Information about special \
needs is processed only with your explicit consent (Article 9(2)(a)). You can \
withdraw your consent at any time on your registration's page, and your needs \
are then erased at once.

Data: name, email address, organisation (optional), how you take part, \
language, and any special needs you give.

Retention: special needs are erased when the event has ended. Other personal \
data is erased after the period the organiser has set, by default 90 days \
after the event. Statistics keep only counts.

Recipients: the data is not disclosed. Other public-sector systems receive \
only information that cannot identify you.

Your rights: you may learn what data about you is processed, ask for it to be \
corrected or erased or its processing restricted, and object to the \
processing. You can cancel your registration on your registration's page. You \
may lodge a complaint with the Office of the Data Protection Ombudsman.""",
}
DEFAULT_NOTICE = notice(_DEFAULT_TEXTS)
