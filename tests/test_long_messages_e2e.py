"""Messages built from accepted input may be longer than Telegram takes (4,096 characters of
text, 1,024 of caption, counted in UTF-16 after HTML parsing): they are split on line
boundaries, the keyboard on the last part, and the person can always go on.

The fake refuses an over-long text or caption exactly as Telegram does ("Bad Request:
message is too long"), so before the split these flows ended on "Oups".
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import func, select

from storage import outbox as outbox_store
from storage.crisis_models import BulletinAck
from storage.models import Meeting
from tests.fakebot.formatting import render, utf16_len
from tests.harness import BotHarness, Person
from tests.test_coordination_e2e import NORD, seed_groups
from tests.test_crisis_support import (  # noqa: F401  (fixtures)
    CHANNEL,
    add_professionals,
    crisis_manual,
    drain,
    text_of,
)

PARIS = ZoneInfo("Europe/Paris")


def shown(message: dict) -> str:
    return text_of(message)


def assert_within_limits(messages: list[dict]) -> None:
    for message in messages:
        if "text" in message:
            assert utf16_len(message["text"]) <= 4096
        if "caption" in message:
            assert utf16_len(message["caption"]) <= 1024


def no_oups(person: Person) -> None:
    assert not [m for m in person.messages() if "Oups" in shown(m)]


# ------------------------------------------------------------------------------ reply path
def session_day(i: int) -> str:
    day = date(datetime.now(PARIS).year + 1, 4, 1 + i)
    return f"{format_date(day, 'EEEE', locale='fr')} {day.day} avril {day.year} de 9h à 12h"


async def test_review_of_a_meeting_with_twelve_long_sessions_is_split_and_publishable(bot: BotHarness) -> None:
    await seed_groups(bot)
    coordinator = bot.coordinator()
    await coordinator.send("/nouvelle_rencontre")
    await coordinator.send("Parcours de soins coordonnés en insuffisance cardiaque : " + "ville-hôpital " * 10)
    await coordinator.send("Thème " + "éducation thérapeutique, télésurveillance, " * 20)
    await coordinator.press(NORD)
    for i in range(12):
        if i:
            await coordinator.press("Ajouter une autre session")
        await coordinator.send(session_day(i))
        await coordinator.press("Oui, c'est ça")
        site = f"Bar-le-Duc site {i} " + "Maison de santé pluriprofessionnelle " * 5
        await coordinator.send(f"{site[:200]}, " + ("12 rue du Général Leclerc, bâtiment B " * 8)[:300])
        await coordinator.send("25")
    await coordinator.press("Terminer")
    review = coordinator.replies
    assert len(review) >= 2, "the review is longer than one message"
    assert_within_limits(review)
    assert "Récapitulatif" in shown(review[0]) and "12 sessions" in shown(review[0])
    assert not review[0].get("reply_markup") and review[-1].get("reply_markup")  # the buttons close the review
    assert sum(shown(m).count("25 places") for m in review) == 12  # no session lost at a cut
    await coordinator.press("Publier")
    assert "est publiée" in coordinator.reply_text
    no_oups(coordinator)
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 1


# ------------------------------------------------------------------------------ reply and outbox paths
LINKS = [f"https://www.grand-est.ars.sante.fr/recommandations/{n}/" + "bronchiolite-" * 50 for n in range(5)]
BODY = ("Les cabinets de garde de Chaumont, Langres et Saint-Dizier ouvrent le samedi après-midi. " * 17)[:1500]


async def test_bulletin_with_a_long_body_and_five_long_links_is_previewed_published_and_answered(
    crisis_manual: BotHarness,
) -> None:
    bot = crisis_manual
    [pro] = await add_professionals(bot, 1)
    cell = bot.coordinator()
    await cell.send("/bulletin")
    await cell.press("Épidémie")
    await cell.press("ARS")
    await cell.press("Urgent")
    await cell.send("Bronchiolite : renfort des gardes & consignes <ARS>")
    await cell.send(BODY)
    await cell.send("\n".join(LINKS))
    await cell.press("Pas de pièce jointe")
    await cell.press("Non, c'est un nouveau bulletin")
    await cell.press("Tout le monde")  # the preview replaces the question (an edit), the rest follows
    messages = cell.messages()
    start = next(i for i, m in enumerate(messages) if "Aperçu" in shown(m))
    preview = messages[start:]
    assert len(preview) >= 2 and len(cell.replies) == len(preview) - 1  # first part edited in, the rest sent
    assert_within_limits(preview)
    assert all(link in "".join(map(shown, preview)) for link in LINKS)
    assert [bool(m.get("reply_markup")) for m in preview] == [False] * (len(preview) - 1) + [True]
    await cell.press("Publier")
    assert "Bulletin n° 1 publié" in cell.reply_text
    no_oups(cell)

    await drain(bot)
    await drain(bot)  # the parts after the first are queued when the first is sent
    posts = bot.api.sent(CHANNEL)
    assert len(posts) >= 2 and "Bronchiolite : renfort des gardes &amp; consignes" not in "".join(map(shown, posts))
    assert "consignes <ARS>" in shown(posts[0])
    assert all(link in "".join(map(shown, posts)) for link in LINKS)
    received = bot.api.sent(pro)
    assert len(received) >= 2 and all(link in "".join(map(shown, received)) for link in LINKS)
    assert_within_limits(posts + received)
    assert not received[0].get("reply_markup")
    assert received[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ca:ok:1"

    person = Person(bot, bot.api.store.users[pro])
    await person.press("Bien reçu", message=received[-1])
    async with bot.db.begin() as session:
        assert await session.scalar(select(func.count()).select_from(BulletinAck)) == 1
    assert not [m for m in bot.api.sent(pro) if "Oups" in shown(m)]


# ------------------------------------------------------------------------------ captions
async def test_a_caption_over_1024_characters_goes_with_its_file_and_the_rest_follows(
    crisis_manual: BotHarness,
) -> None:
    bot = crisis_manual
    [pro] = await add_professionals(bot, 1)
    lines = [f"<b>Consigne {i}</b> : {'désinfection des surfaces, ' * 4}" for i in range(20)]
    caption = "\n".join(lines)
    assert utf16_len(render(caption, "HTML")[0]) > 1024
    async with bot.db.begin() as session:
        await outbox_store.enqueue(
            session,
            purpose="test:caption",
            chat_id=pro,
            user_id=pro,
            method="sendDocument",
            payload={"document": _pdf_param(), "caption": caption, "parse_mode": "HTML"},
        )
    await drain(bot)
    await drain(bot)
    sent = bot.api.sent(pro)
    assert "document" in sent[0] and len(sent) >= 2
    assert_within_limits(sent)
    everything = "\n".join(shown(m) for m in sent)
    assert all(f"Consigne {i}" in everything for i in range(20))
    assert re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]*>", "", caption))) == re.sub(r"\s+", "", everything)


def _pdf_param() -> dict:
    from bot.transport import file_param

    return file_param(b"%PDF-1.4 consignes", "consignes.pdf", "application/pdf")


# ------------------------------------------------------------------------------ the splitter itself
def test_every_part_is_valid_html_within_the_limit_and_nothing_is_lost() -> None:
    """Random texts shaped like ours (tags across lines, links, entities, emoji, very long
    lines), checked with the fake's own HTML parser (Telegram's rules)."""
    import random

    from bot.notify import split_text

    rng = random.Random(13)
    words = ["Verdun", "Hôpital", "Saint-Nicolas", "a&amp;b", "&lt;ARS&gt;", "🩺😀", "x" * 60, "é", "Hôpital " * 40]
    words.append("https://ars.fr/" + "a" * 99)

    def text() -> str:
        out = []
        for _ in range(rng.randint(1, 300)):
            roll = rng.random()
            if roll < 0.05:
                out.append("\n")
            elif roll < 0.1:
                out.append(f"<b>{rng.choice(words)}\n{rng.choice(words)}</b>")
            elif roll < 0.12:
                out.append(f'<a href="https://ars.fr/{"q" * rng.randint(1, 400)}">{rng.choice(words)}</a>')
            elif roll < 0.14:
                quote = " ".join(rng.choice(words) for _ in range(30))
                out.append(f"<blockquote>{quote}\n{'z' * rng.randint(0, 3000)}</blockquote>")
            else:
                out.append(rng.choice(words) + " ")
        return "".join(out)

    def visible(value: str) -> str:
        return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]*>", "", value)))

    for _ in range(100):
        original = text()
        for limit, first in ((4096, None), (4096, 1024), (300, 80)):
            parts = split_text(original, limit, first=first)
            for i, part in enumerate(parts):
                plain, _ = render(part, "HTML")  # raises on a cut tag or entity
                assert plain.strip() and utf16_len(plain) <= (first if i == 0 and first else limit)
            assert "".join(visible(p) for p in parts) == visible(original)
