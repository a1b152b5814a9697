"""The compiled menu model: immutable values built once by the loader and shared by every dialogue.

Screens are plain frozen dataclasses so that a menu set can be held by many engines (and threads)
without copying; everything a step needs at run time (compiled templates and expressions, resolved
targets) is already here, so a step never re-reads YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .diagnostics import Where
from .expr import Expr, Template
from .gsm import Charset

#: The language key of a text written once for every language.
ANY_LANGUAGE = "*"


@dataclass(frozen=True, slots=True)
class Text:
    """A translatable template: one compiled template per language (or one for all)."""

    variants: Mapping[str, Template]
    where: Where

    def template(self, lang: str, default_lang: str) -> Template:
        variants = self.variants
        found = variants.get(lang) or variants.get(ANY_LANGUAGE) or variants.get(default_lang)
        if found is None:  # the checker makes this unreachable for declared languages
            found = next(iter(variants.values()))
        return found

    @property
    def is_static(self) -> bool:
        return all(t.is_static for t in self.variants.values())


@dataclass(frozen=True, slots=True)
class TextLine:
    """One or more display lines from a template, optionally conditional."""

    text: Text
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class EachLine:
    """One display line per item of a list from the data (one per bonus bucket, say)."""

    items: Expr
    alias: str
    line: Text
    empty: Text | None
    when: Expr | None
    where: Where


Line = TextLine | EachLine


@dataclass(frozen=True, slots=True)
class Option:
    """A menu option. ``key`` is None when the option is numbered by its visible position."""

    index: int
    key: str | None
    label: Text
    target: str
    when: Expr | None
    where: Where
    #: A list from the data: the option stands once per item (``alias`` names the item in
    #: ``label``, ``when`` and ``save``), numbered like the other unkeyed options.
    each: Expr | None = None
    alias: str = "item"
    #: What choosing the option saves into ``input`` (name -> expression), e.g. the chosen item's id.
    save: Mapping[str, Expr] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    when: Expr | None
    target: str
    where: Where


@dataclass(frozen=True, slots=True)
class InputRules:
    """Validation of an input screen; None means the rule is not set."""

    kind: str  # text | digits | phone | amount
    pattern: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Screen:
    id: str
    where: Where
    lines: tuple[Line, ...]

    #: Screens that show nothing and move on at once (routes, actions).
    transient = False
    #: Screens after which the dialogue ends.
    final = False

    def targets(self) -> tuple[tuple[str, Where], ...]:
        """Every screen this one can lead to, with where the link is written."""
        return ()


@dataclass(frozen=True, slots=True)
class MenuScreen(Screen):
    options: tuple[Option, ...] = ()

    def targets(self) -> tuple[tuple[str, Where], ...]:
        return tuple((o.target, o.where) for o in self.options)


@dataclass(frozen=True, slots=True)
class InfoScreen(Screen):
    pass


@dataclass(frozen=True, slots=True)
class EndScreen(Screen):
    final = True


@dataclass(frozen=True, slots=True)
class InputScreen(Screen):
    rules: InputRules = field(default_factory=lambda: InputRules("text"))
    save: str = "value"
    target: str = ""
    errors: Mapping[str, Text] = field(default_factory=dict)

    def targets(self) -> tuple[tuple[str, Where], ...]:
        return ((self.target, self.where),)


@dataclass(frozen=True, slots=True)
class ConfirmScreen(Screen):
    yes: str = ""
    no: str = ""

    def targets(self) -> tuple[tuple[str, Where], ...]:
        return ((self.yes, self.where), (self.no, self.where))


@dataclass(frozen=True, slots=True)
class RouteScreen(Screen):
    routes: tuple[Route, ...] = ()
    transient = True

    def targets(self) -> tuple[tuple[str, Where], ...]:
        return tuple((r.target, r.where) for r in self.routes)


@dataclass(frozen=True, slots=True)
class ActionScreen(Screen):
    action: str = ""
    args: Mapping[str, Expr] = field(default_factory=dict)
    outcomes: Mapping[str, str] = field(default_factory=dict)
    transient = True

    def targets(self) -> tuple[tuple[str, Where], ...]:
        return tuple((t, self.where) for t in self.outcomes.values())


@dataclass(frozen=True, slots=True)
class NavKeys:
    back: str = "0"
    home: str = "00"
    more: str = "98"


@dataclass(frozen=True, slots=True)
class PhoneRule:
    """How a national number is written: Côte d'Ivoire is +225 and ten national digits."""

    country_code: str = "225"
    national_digits: int = 10
    #: National prefixes of the mobile numbers a ``phone`` input accepts (none: any number).
    prefixes: tuple[str, ...] = ()


@dataclass(slots=True)
class RenderMemo:
    """What the renderer derives from a service's fixed text, kept on first use. Shared by worker
    threads without a lock: an entry is only ever added, and two threads adding one at once add
    equal values."""

    #: By menu screen: the keys its numbering skips (its fixed option keys and the navigation keys).
    taken: dict[str, frozenset[str]] = field(default_factory=dict)
    #: By language: the "more" line and the navigation footer, ready for the charset.
    chrome: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    #: By language: the invalid-choice line as sent (the room every page keeps for it).
    error_slot: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Service:
    code: str  # canonical form, e.g. "#122#"
    aliases: tuple[str, ...]
    name: str
    entry: str
    languages: tuple[str, ...]
    default_language: str
    charset: Charset
    keys: NavKeys
    phone: PhoneRule
    option_format: str
    messages: Mapping[str, Text]
    screens: Mapping[str, Screen]
    where: Where
    #: The entry and what it routes to at once: the subscriber's first screens, shown without
    #: the back/home reminder.
    top_screens: frozenset[str] = frozenset()
    #: Seconds after a dialogue drops (a network abort, a timeout) during which dialling the
    #: service again offers to resume it; 0: never.
    resume: int = 120
    #: Screens a resumed dialogue does not land on (it lands on the screen before): every
    #: confirmation, unless the menu says ``resume: true``, and those marked ``resume: false``.
    resume_skip: frozenset[str] = frozenset()
    #: Renderer's memo of derived fixed text (the "more" line per language...); not part of the value.
    memo: RenderMemo = field(default_factory=RenderMemo, compare=False, repr=False)

    def message(self, name: str) -> Text:
        return self.messages[name]


@dataclass(frozen=True, slots=True)
class MenuSet:
    """Every service loaded from a menu folder, by its short-code number ("122")."""

    services: Mapping[str, Service]
    files: tuple[str, ...] = ()
    #: What the files held (:func:`ussd.loader.menu_version`): a dialogue keeps the version it began on.
    version: str = ""
