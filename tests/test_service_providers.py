"""What the accounts providers give #122#'s screens: totals usable now and later, invoices named
by their issue month, internet+ periods as the frozen clock saw them."""

from __future__ import annotations

from dataclasses import replace

from test_account_providers import call, providers_for
from test_account_rules import bucket, sub, t

from accounts.model import InternetPlus, Invoice, OfferType, Purchase


def test_totals_count_what_is_usable_now_and_say_what_waits_for_its_window() -> None:
    weekend = bucket("credit", "weekend", 1000, "2026-12-31T00:00:00", "all")
    monthly = bucket("credit", "monthly", 250, "2026-12-31T00:00:00", "all")
    providers = providers_for(sub(weekend, monthly))
    friday = providers.bonus(call(t("2026-11-27T10:00:00")))["credit"]
    assert (friday["usable"], friday["total"], friday["empty"]) == (250, 1250, False)
    assert [(r["rubrique"], r["total"], r["window"]["fr"]) for r in friday["later"]] == [
        ("weekend", 1000, "utilisable le week-end")]
    saturday = providers.bonus(call(t("2026-11-28T10:00:00")))["credit"]
    assert (saturday["usable"], saturday["later"]) == (1250, [])


def test_an_empty_sub_account_says_so_and_the_pass_rubrique_is_listed_once_held() -> None:
    providers = providers_for(sub(bucket("internet", "pass", 5, "2026-12-31T00:00:00")))
    view = providers.bonus(call(t("2026-11-25T10:00:00")))
    assert view["minutes"]["empty"] and view["minutes"]["usable"] == 0
    assert not view["internet"]["empty"]
    assert [r["rubrique"] for r in view["internet"]["listed"]] == [
        "monthly", "weekly", "night", "special", "family", "social", "pass"]
    assert [r["rubrique"] for r in view["credit"]["listed"]] == ["monthly", "omoney", "weekend", "special"]
    assert view["internet"]["rubriques"]["pass"]["lines"][0]["label"] == {"fr": "Pass internet", "en": "Internet pass"}


POSTPAID = replace(
    sub(),
    offer=sub().offer._replace(type=OfferType.POSTPAID),
    invoices=(Invoice("2026-11", 18500, t("2026-11-01T08:00:00"), t("2026-11-15T23:59:59"), False),
              Invoice("2026-10", 17250, t("2026-10-01T08:00:00"), t("2026-10-15T23:59:59"), True),
              Invoice("2024-11", 9000, t("2024-11-25T09:59:59"), t("2024-12-10T00:00:00"), True),
              Invoice("2024-12", 9500, t("2024-12-01T08:00:00"), t("2024-12-15T00:00:00"), True)),
    internet_plus=InternetPlus(False, (Purchase(t("2026-11-20T14:03:00"), "Jeux", 500),
                                       Purchase(t("2026-11-02T09:30:00"), "Musique", 1500),
                                       Purchase(t("2026-10-25T23:59:59"), "Video", 1000))),
)


def test_invoices_overdue_and_the_24_month_limit() -> None:
    providers = providers_for(POSTPAID)
    before = providers.invoices(call(t("2026-11-15T23:59:58")))
    assert before["last"]["label"] == "11/2026" and not before["last"]["overdue"]
    after = providers.invoices(call(t("2026-11-25T10:00:00")))
    assert after["last"]["overdue"] and not after["recent"][1]["overdue"]  # the paid one is never overdue
    assert [i["label"] for i in after["duplicates"]] == ["11/2026", "10/2026", "12/2024"]
    assert [i["label"] for i in after["too_old"]] == ["11/2024"]  # issued 24 months and a second ago
    assert [i["label"] for i in after["recent"]] == ["11/2026", "10/2026"]


def test_internet_plus_periods_invoices_and_the_frozen_past() -> None:
    providers = providers_for(POSTPAID)
    plus = providers.internet_plus(call(t("2026-11-10T10:00:00")))
    assert plus["enabled"] and not plus["active"]
    current = plus["current"]
    assert (current["invoice"], current["total"], current["count"]) == ("12/2026", 1500, 1)  # 20/11: not yet
    assert [p["key"] for p in plus["previous"]] == ["2026-11", "2026-10", "2026-09", "2026-08", "2026-07", "2026-06"]
    assert plus["periods"]["2026-11"]["invoice"] == "11/2026" and plus["periods"]["2026-11"]["total"] == 1000
    assert "2026-05" in plus["periods"]  # one more than shown: chosen before the 26th, opened after it
    later = providers.internet_plus(call(t("2026-11-26T00:00:00")))
    assert later["current"]["count"] == 0 and not later["has_current"] and later["enabled"]
    assert later["previous"][0]["total"] == 2000
    assert not providers_for(sub()).internet_plus(call(t("2026-11-26T00:00:00")))["enabled"]
