"""The dialogue engine, end to end on a test service: events in, screens out, no I/O."""

from __future__ import annotations

import string
from datetime import datetime

from conftest import AT, FakeClock, shop_registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ussd import gsm
from ussd.engine import ERROR_SCREEN, Engine, Response
from ussd.loader import load_menus_or_raise
from ussd.registry import ActionCall, Outcome, Registry
from ussd.sessions import Dialogue, MemorySessionStore

RICH = "2250701000001"  # prepaid, fr, 1500 F, 30 lines
POOR = "2250701000002"  # postpaid, en, 50 F
ASLEEP = "2250701000003"  # inactive


def walk(engine: Engine, msisdn: str, *replies: str, code: str = "*555#", at: datetime = AT,
         lang: str | None = None) -> list[Response]:
    """Dial ``code`` and send ``replies``, all at ``at``: every screen shown."""
    response = engine.begin(msisdn, code, at, lang=lang)
    seen = [response]
    for reply in replies:
        response = engine.reply(response.session, reply, at)
        seen.append(response)
    return seen


def test_home_numbers_visible_options_in_order(engine: Engine) -> None:
    home = engine.begin(RICH, "*555#", AT)
    assert not home.end and home.screen == "home"
    assert home.text.split("\n") == [
        "Boutique etre", "1. Solde", "2. Acheter", "3. Liste", "4. Ajouter un numéro", "5. Choisir une ligne",
        "9. Quitter"]


def test_condition_shows_option_and_renumbers_the_rest(engine: Engine) -> None:
    home = engine.begin(POOR, "*555#", AT)
    assert "2. Postpaid only" in home.text and "3. Buy" in home.text
    assert engine.reply(home.session, "3", AT).screen == "amount"


def test_language_is_the_subscribers_unless_asked(engine: Engine) -> None:
    assert engine.begin(POOR, "*555#", AT).text.startswith("Shop")
    assert engine.begin(POOR, "*555#", AT, lang="fr").text.startswith("Boutique")
    assert engine.begin(RICH, "*555#", AT, lang="en").text.startswith("Shop")
    assert engine.begin(RICH, "*555#", AT, lang="de").text.startswith("Boutique")


def test_unknown_and_inactive_subscribers_get_one_end_screen(engine: Engine) -> None:
    stranger = engine.begin("2250799999999", "*555#", AT)
    assert stranger.end and stranger.text == "Numéro inconnu."
    asleep = engine.begin(ASLEEP, "#555#", AT)
    assert asleep.end and asleep.text == "Compte inactive: 35 F"
    assert len(engine.sessions) == 0


def test_unknown_service_code_ends_politely(engine: Engine) -> None:
    for code in ("#999#", "hello", "", "*555"):
        response = engine.begin(RICH, code, AT)
        assert response.end and "pas disponible" in response.text


def test_invalid_choice_reshows_the_screen_with_an_error_line(engine: Engine) -> None:
    home, wrong = walk(engine, RICH, "7")
    assert not wrong.end and wrong.screen == "home"
    assert wrong.text == "Choix invalide.\n" + home.text
    assert engine.reply(home.session, "1", AT).screen == "balance"


def test_back_home_and_back_at_the_top(engine: Engine) -> None:
    seen = walk(engine, RICH, "2", "0", "0", "3", "00")
    assert [r.screen for r in seen] == ["home", "amount", "home", "home", "long_list", "home"]
    assert "0 Retour 00 Accueil" in seen[1].text and "Retour" not in seen[0].text


def test_long_screen_pages_fit_and_show_every_line_once(engine: Engine) -> None:
    response = walk(engine, RICH, "3")[-1]
    lines: list[str] = []
    pages = response.pages
    assert pages > 1
    for number in range(1, pages + 1):
        assert response.page == number and response.units <= 182
        assert gsm.fits(response.text)
        body = [line for line in response.text.split("\n") if line not in ("98. Suite", "0 Retour 00 Accueil")]
        lines.extend(body)
        if number < pages:
            assert "98. Suite" in response.text
            response = engine.reply(response.session, "98", AT)
    assert "98. Suite" not in response.text
    listed = [f"Ligne {n}: {n * 100:,} F".replace(",", " ") for n in range(1, 31)]
    assert lines == ["Vos lignes:", *listed, "Fin de liste"]
    back = engine.reply(response.session, "0", AT)
    assert back.page == pages - 1


def test_an_error_mid_list_loses_no_line(engine: Engine) -> None:
    response = walk(engine, RICH, "3", "98", "x")[-1]
    assert response.text.startswith("Choix invalide.")
    seen = set(response.text.split("\n"))
    while response.page < response.pages:
        response = engine.reply(response.session, "98", AT)
        seen.update(response.text.split("\n"))
    assert {f"Ligne {n}: {n * 100:,} F".replace(",", " ") for n in range(10, 31)} <= seen


def test_input_validation_says_what_was_wrong(engine: Engine) -> None:
    seen = walk(engine, RICH, "2", "abc", "50", "9000")
    assert seen[2].text.startswith("Montant invalide")
    assert seen[3].text.startswith("Valeur hors limites (100 à 5000).")
    assert seen[4].text.startswith("Valeur hors limites") and seen[4].screen == "amount"


def test_buy_confirms_debits_and_routes_on_outcome(engine: Engine, population) -> None:
    seen = walk(engine, RICH, "2", "1 000", "1")
    assert seen[2].screen == "confirm_buy" and "Acheter pour 1 000 F ?" in seen[2].text
    assert "1. Oui" in seen[2].text and "2. Non" in seen[2].text
    assert seen[3].end and seen[3].text == "Achat réussi. Solde: 500 F"
    assert population[RICH]["balance"] == 500
    short = walk(engine, RICH, "2", "600", "1")[-1]
    assert short.end and short.text == "Solde insuffisant." and population[RICH]["balance"] == 500


def test_confirm_no_goes_back_without_debit(engine: Engine, population) -> None:
    seen = walk(engine, RICH, "2", "200", "2", "3")
    assert seen[3].screen == "home" and population[RICH]["balance"] == 1500
    assert seen[4].screen == "long_list"
    assert walk(engine, RICH, "2", "200", "5")[-1].text.startswith("Choix invalide.")


def test_failing_action_without_a_route_ends_on_the_error_screen(engine: Engine, population) -> None:
    population[RICH]["balance"] = None  # the action raises TypeError
    final = walk(engine, RICH, "2", "200", "1")[-1]
    assert final.end and final.screen == ERROR_SCREEN and "indisponible" in final.text


def test_phone_input_normalises_and_uses_the_screens_error(engine: Engine) -> None:
    seen = walk(engine, RICH, "4", "12345", "+225 07 05 06 07 08")
    assert seen[2].text.startswith("Il faut un numéro à 10 chiffres.")
    assert seen[3].end and seen[3].text == "Numéro 2250705060708 ajouté."
    assert walk(engine, RICH, "4", "0705060708")[-1].text == "Numéro 2250705060708 ajouté."


def test_direct_path_in_the_dialled_code(engine: Engine) -> None:
    response = engine.begin(RICH, "*555*3#", AT)
    assert response.screen == "long_list" and not response.end
    assert engine.begin(RICH, "*555*9#", AT).text == "Au revoir."
    assert engine.begin(RICH, "*555*8#", AT).text.startswith("Choix invalide.")


def test_a_direct_path_stops_at_a_confirmation_and_never_spends(engine: Engine, population) -> None:
    stopped = engine.begin(RICH, "*555*2*200*1#", AT)  # the final 1 would say yes
    assert stopped.screen == "confirm_buy" and not stopped.end and "Acheter pour 200 F ?" in stopped.text
    assert population[RICH]["balance"] == 1500
    assert engine.reply(stopped.session, "1", AT).text == "Achat réussi. Solde: 1 300 F"  # its own reply


def test_second_service_side_by_side_sends_ucs2(engine: Engine) -> None:
    response = engine.begin(RICH, "#777#", AT)
    assert response.end and response.coding == "ucs2"
    assert response.text == "Fenêtre où l'on côtoie la forêt" and response.units <= 80


def test_idle_timeout_and_total_limit_come_from_the_clock(engine: Engine, clock: FakeClock) -> None:
    home = engine.begin(RICH, "*555#", AT)
    clock.advance(59)
    assert engine.reply(home.session, "1", AT).screen == "balance"
    clock.advance(60)
    expired = engine.reply(home.session, "0", AT)
    assert expired.end and "expiré" in expired.text
    other = engine.begin(RICH, "*555#", AT)
    for _ in range(4):
        clock.advance(50)
        response = engine.reply(other.session, "3", AT)
    assert response.end and "expiré" in response.text  # 200 s > 180 s even though never idle 60 s


def test_timeout_and_abort_forget_the_dialogue(engine: Engine) -> None:
    one = engine.begin(RICH, "*555#", AT)
    two = engine.begin(RICH, "*555#", AT)
    assert len(engine.sessions) == 2
    assert engine.timeout(one.session).end
    aborted = engine.abort(two.session)
    assert aborted.end and aborted.text == ""
    assert len(engine.sessions) == 0
    assert engine.reply(two.session, "1", AT).end


def test_dialogue_moves_between_engines_through_the_store(engine: Engine) -> None:
    other = Engine(engine.menus, engine.registry, engine.sessions, clock=lambda: AT)
    home = engine.begin(RICH, "*555#", AT)
    assert other.reply(home.session, "2", AT).screen == "amount"
    record = engine.sessions.get(home.session)
    assert record is not None and Dialogue.from_dict(record.to_dict()) == record


def test_the_machine_is_shared_and_holds_no_dialogue(engine: Engine) -> None:
    for _ in range(50):
        walk(engine, RICH, "3", "98")
    machine = engine.machines["555"].machine
    assert machine.models == [] and len(engine.sessions) == 50


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(replies=st.lists(st.one_of(
    st.sampled_from(["0", "00", "98", "1", "2", "3", "4", "9", "100", "0701020304", ""]),
    st.text(alphabet=string.printable + "éêç€", max_size=40)), max_size=12))
def test_any_replies_never_crash_and_every_page_fits(engine: Engine, replies: list[str]) -> None:
    response = engine.begin(RICH, "*555#", AT)
    for reply in replies:
        if response.end:
            break
        response = engine.reply(response.session, reply, AT)
        assert gsm.fits(response.text) and response.units <= (182 if response.coding == "gsm7" else 80)
        assert response.text


def test_sessions_run_on_twisteds_clock(population) -> None:
    from conftest import GOOD_MENUS, shop_registry
    from twisted.internet.task import Clock

    from ussd.loader import load_menus_or_raise
    from ussd.sessions import MemorySessionStore

    reactor_clock = Clock()
    registry = shop_registry(population)
    engine = Engine(load_menus_or_raise([GOOD_MENUS], registry), registry,
                    MemorySessionStore(reactor_clock.seconds, idle_timeout=30), clock=lambda: AT)
    home = engine.begin(RICH, "*555#", AT)
    reactor_clock.advance(29.5)
    assert engine.reply(home.session, "1", AT).screen == "balance"
    reactor_clock.advance(30)
    assert engine.reply(home.session, "0", AT).end
    assert engine.sessions.sweep() == 0 and len(engine.sessions) == 0


def test_options_from_a_list_are_numbered_filtered_and_save_the_choice(engine: Engine) -> None:
    pick = walk(engine, RICH, "5")[-1]
    assert pick.text.split("\n")[:4] == ["Quelle ligne ?", "1. Ligne 2 (200 F)", "2. Ligne 3 (300 F)", "3. Aucune"]
    assert engine.reply(pick.session, "2", AT).text == "Choisi: Ligne 3 pour 300 F"
    assert walk(engine, RICH, "5", "3")[-1].screen == "home"
    assert walk(engine, RICH, "5", "4")[-1].text.startswith("Choix invalide.")
    poor = walk(engine, POOR, "6")[-1]  # no lines: only the fixed option is left, numbered 1
    assert poor.text.split("\n")[:2] == ["Which line?", "1. None"]


def test_leading_zeros_choose_the_option(engine: Engine) -> None:
    seen = walk(engine, RICH, "02", "200", "01")
    assert [r.screen for r in seen] == ["home", "amount", "confirm_buy", "bought"]
    assert walk(engine, RICH, "003")[-1].screen == "long_list"
    assert walk(engine, RICH, "0", "00")[-1].screen == "home"  # still navigation, not options
    listing = walk(engine, RICH, "3", "098")[-1]
    assert listing.screen == "long_list" and listing.page == 2
    assert walk(engine, RICH, "000")[-1].text.startswith("Choix invalide.")


def test_an_error_line_shows_once_above_the_same_page(engine: Engine) -> None:
    first, page2 = walk(engine, RICH, "3", "98")[1:]
    wrong = engine.reply(page2.session, "x", AT)
    assert wrong.page == 2 and wrong.text == "Choix invalide.\n" + page2.text  # same lines, one more above
    page3 = engine.reply(page2.session, "98", AT)
    assert page3.page == 3 and "Choix invalide." not in page3.text
    back = engine.reply(page2.session, "0", AT)
    assert back.page == 2 and back.text == page2.text  # paging back: no error line again
    assert engine.reply(page2.session, "0", AT).text == first.text


def test_an_error_line_is_gone_after_leaving_and_coming_back(engine: Engine) -> None:
    home, wrong, balance, again = walk(engine, RICH, "7", "1", "0")
    assert wrong.text.startswith("Choix invalide.") and balance.screen == "balance"
    assert again.screen == "home" and again.text == home.text


def test_every_page_keeps_room_for_the_longest_error_line(engine: Engine) -> None:
    response = walk(engine, RICH, "3")[-1]
    while True:
        assert gsm.measure("Choix invalide.\n" + response.text).fits
        if response.page == response.pages:
            break
        response = engine.reply(response.session, "98", AT)


def test_expired_screen_speaks_the_dialogues_language(engine: Engine, clock: FakeClock) -> None:
    home = engine.begin(POOR, "*555#", AT)  # an English subscriber
    clock.advance(61)
    expired = engine.reply(home.session, "1", AT)
    assert expired.end and expired.text == "Your session has expired. Please dial the code again."
    french = engine.begin(RICH, "*555#", AT, lang="fr")
    clock.advance(61)
    assert "expiré" in engine.reply(french.session, "1", AT).text
    assert "expiré" in engine.reply("never-seen", "1", AT).text  # unknown: the service's default


def test_an_option_whose_save_fails_ends_on_the_error_screen(tmp_path, population, clock: FakeClock) -> None:
    (tmp_path / "m.yaml").write_text(
        'service: {code: "*556#", entry: home, languages: [fr, en]}\n'
        "screens:\n"
        "  home:\n"
        '    text: "Choisir"\n'
        "    options:\n"
        "      - each: subscriber.lines[:2]\n"
        "        as: l\n"
        '        label: "{{ l.name }}"\n'
        "        save: {share: l.amount // 0}\n"
        "        goto: done\n"
        "  done: {type: end, text: \"Fini\"}\n", encoding="utf-8")
    registry = shop_registry(population)
    engine = Engine(load_menus_or_raise([str(tmp_path)], registry), registry,
                    MemorySessionStore(clock), clock=lambda: AT)
    home = engine.begin(RICH, "*556#", AT)
    failed = engine.reply(home.session, "1", AT)
    assert failed.end and failed.screen == ERROR_SCREEN and "indisponible" in failed.text
    assert len(engine.sessions) == 0


def test_a_long_end_screen_keeps_room_for_the_error_line_on_its_pages(tmp_path, population, clock: FakeClock) -> None:
    words = " ".join(f"mot{n:03d}" for n in range(60))  # about 420 septets: three pages
    (tmp_path / "m.yaml").write_text(
        'service: {code: "*557#", entry: home, languages: [fr, en]}\n'
        "screens:\n"
        "  home:\n"
        '    text: "Choisir"\n'
        '    options: [{label: "Lire", goto: terms}]\n'
        f'  terms: {{type: end, text: "{{{{ msisdn }}}} {words}"}}\n', encoding="utf-8")  # templated: not checked
    registry = shop_registry(population)
    engine = Engine(load_menus_or_raise([str(tmp_path)], registry), registry,
                    MemorySessionStore(clock), clock=lambda: AT)
    home = engine.begin(RICH, "*557#", AT)
    page1 = engine.reply(home.session, "1", AT)
    assert not page1.end and page1.pages > 1
    wrong = engine.reply(home.session, "7", AT)
    assert wrong.text == "Choix invalide.\n" + page1.text and gsm.measure(wrong.text).fits


def test_a_reply_picks_the_option_shown_even_if_the_list_changed_since(engine: Engine, population) -> None:
    pick = walk(engine, RICH, "5")[-1]
    assert "1. Ligne 2 (200 F)" in pick.text
    population[RICH]["lines"] = population[RICH]["lines"][2:]  # lines 1 and 2 go, in another dialogue
    assert engine.reply(pick.session, "1", AT).text == "Choisi: Ligne 2 pour 200 F"


def test_a_record_from_elsewhere_without_offers_still_takes_a_choice(engine: Engine) -> None:
    pick = walk(engine, RICH, "5")[-1]
    record = engine.sessions.get(pick.session)
    record.offered = None  # as a record stored by an engine that did not keep them
    engine.sessions.put(record)
    assert engine.reply(pick.session, "2", AT).text == "Choisi: Ligne 3 pour 300 F"


def test_screens_after_an_action_read_what_the_store_holds_after_it(tmp_path, clock: FakeClock) -> None:
    balance = {"value": 1000}
    registry = Registry()
    registry.provider("subscriber", lambda call: {"balance": balance["value"]})  # a new value each read

    def spend(call: ActionCall) -> Outcome:
        balance["value"] -= 300
        return Outcome("success")

    registry.action("spend", spend, {"success"})
    (tmp_path / "m.yaml").write_text(
        'service: {code: "*558#", entry: start, languages: [fr, en]}\n'
        "screens:\n"
        "  start:\n"
        "    routes: [{when: subscriber.balance > 0, goto: pay}, {goto: broke}]\n"  # reads it first
        "  pay: {type: action, action: spend, on: {success: done}}\n"
        '  done: {type: end, text: "Solde: {{ subscriber.balance | money }}"}\n'
        '  broke: {type: end, text: "Rien"}\n', encoding="utf-8")
    engine = Engine(load_menus_or_raise([str(tmp_path)], registry), registry,
                    MemorySessionStore(clock), clock=lambda: AT)
    assert engine.begin(RICH, "*558#", AT).text == "Solde: 700 F"


def test_control_and_format_characters_in_a_reply_are_never_read_or_shown(engine: Engine) -> None:
    home = engine.begin(RICH, "*555#", AT)
    assert engine.reply(home.session, "\u202e1\x07", AT).screen == "balance"  # a bidi override, a BEL
    amount = walk(engine, RICH, "2")[-1]
    wrong = engine.reply(amount.session, "\x1b12\u200b", AT)  # "12": below the minimum of 100
    assert wrong.text.startswith("Valeur hors limites") and "\x1b" not in wrong.text
