"""Hypothesis strategies for subscribers the importer accepts: every field, every service.

Instants stop a day before the end of 9999 so that each has a date in every zone of ``ZONES``
(the importer refuses one that has none); invoices are named after their issue month in the zone
the subscriber is drawn for, as the importer requires.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from accounts.importer import MAX_AMOUNT
from accounts.model import (
    LANGUAGES,
    MAX_INSTANT,
    MIN_INSTANT,
    RUBRIQUES,
    SCOPES,
    Bucket,
    DuplicateRequest,
    InternetPlus,
    Invoice,
    MainAccount,
    Offer,
    OfferType,
    Purchase,
    Status,
    Subscriber,
    Usage,
    month_of,
)

#: UTC, the operator's, one with summer time, a half-hour one, the farthest east, one with seconds.
ZONES: tuple[tzinfo, ...] = (UTC, ZoneInfo("Africa/Abidjan"), ZoneInfo("Europe/Paris"),
                             ZoneInfo("America/St_Johns"), ZoneInfo("Pacific/Kiritimati"),
                             ZoneInfo("Africa/Monrovia"))

instants = st.integers(MIN_INSTANT, MAX_INSTANT - 86_400)
amounts = st.integers(0, MAX_AMOUNT)
#: E.164 digits: a country code first, never a leading 0.
msisdns = st.builds(lambda head, rest: head + rest, st.sampled_from("123456789"),
                    st.text("0123456789", min_size=7, max_size=14))
#: Text as the importer keeps it: stripped, not blank, without control characters.
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=24).map(str.strip).filter(bool)
months = st.builds(lambda year, month: f"{year:04d}-{month:02d}", st.integers(1970, 9999), st.integers(1, 12))


@st.composite
def buckets(draw: st.DrawFn) -> Bucket:
    account = draw(st.sampled_from(tuple(RUBRIQUES)))
    expires = draw(st.integers(MIN_INSTANT + 1, MAX_INSTANT - 86_400))
    return Bucket(account, draw(st.sampled_from(RUBRIQUES[account])), draw(amounts), expires,
                  draw(st.sampled_from(SCOPES[account])) if SCOPES[account] else None,
                  draw(st.none() | st.integers(MIN_INSTANT, expires - 1)), draw(st.none() | names))


def invoices(tz: tzinfo) -> st.SearchStrategy[Invoice]:
    return st.builds(lambda issued, amount, due, paid: Invoice(month_of(issued, tz), amount, issued, due, paid),
                     instants, amounts, instants, st.booleans())


usages = st.builds(Usage, instants, amounts, amounts, amounts, amounts)
purchases = st.builds(Purchase, instants, names, amounts)
internet_plus = st.builds(InternetPlus, st.booleans(), st.lists(purchases, max_size=3).map(tuple))
duplicate_requests = st.builds(DuplicateRequest, months, instants)


def subscribers(tz: tzinfo) -> st.SearchStrategy[Subscriber]:
    """Subscribers the importer accepts with times read in ``tz``."""
    return st.builds(
        Subscriber, msisdns, st.sampled_from(Status), st.builds(Offer, names, st.sampled_from(OfferType)),
        st.sampled_from(LANGUAGES), st.builds(MainAccount, amounts, instants),
        favourites=st.lists(msisdns, max_size=3, unique=True).map(tuple),
        buckets=st.lists(buckets(), max_size=4).map(tuple),
        usage=st.none() | usages, invoices=st.lists(invoices(tz), max_size=3).map(tuple),
        internet_plus=st.none() | internet_plus, duplicates=st.lists(duplicate_requests, max_size=3).map(tuple))


#: (zone, a subscriber drawn for it).
zoned_subscribers = st.sampled_from(ZONES).flatmap(lambda tz: st.tuples(st.just(tz), subscribers(tz)))
