"""The engine's own words, in every language it ships; a service may override any of them.

They are templates like any menu text; input errors see ``rule`` (min, max, min_length,
max_length, digits) so they can say exactly what was expected. ``yes`` and ``no`` label a
confirmation's answers and are also how a boolean shown in a template reads (the expression
language has no words of its own).
"""

from __future__ import annotations

DEFAULTS: dict[str, dict[str, str]] = {
    "invalid_choice": {"fr": "Choix invalide.", "en": "Invalid choice."},
    "more": {"fr": "Suite", "en": "More"},
    "nav": {"fr": "0 Retour 00 Accueil", "en": "0 Back 00 Home"},
    "yes": {"fr": "Oui", "en": "Yes"},
    "no": {"fr": "Non", "en": "No"},
    "expired": {
        "fr": "Votre session a expiré. Composez à nouveau le code.",
        "en": "Your session has expired. Please dial the code again.",
    },
    "resume": {
        "fr": "Reprendre là où vous en étiez ?\n1. Reprendre\n2. Recommencer",
        "en": "Pick up where you left off?\n1. Resume\n2. Start again",
    },
    "error": {
        "fr": "Service momentanément indisponible. Merci de réessayer plus tard.",
        "en": "Service temporarily unavailable. Please try again later.",
    },
    "input_kind_text": {"fr": "Saisie invalide.", "en": "Invalid entry."},
    "input_kind_digits": {"fr": "Saisissez uniquement des chiffres.", "en": "Enter digits only."},
    "input_kind_phone": {
        "fr": "Numéro invalide: {{ rule.digits }} chiffres attendus"
              "{{ ', commençant par ' + (rule.prefixes | join(', ')) if rule.prefixes else '' }}.",
        "en": "Invalid number: {{ rule.digits }} digits expected"
              "{{ ', starting with ' + (rule.prefixes | join(', ')) if rule.prefixes else '' }}.",
    },
    "input_kind_amount": {
        "fr": "Montant invalide: saisissez un nombre entier.",
        "en": "Invalid amount: enter a whole number.",
    },
    "input_range": {
        "fr": "Valeur hors limites ({{ rule.min }} à {{ rule.max }}).",
        "en": "Out of range ({{ rule.min }} to {{ rule.max }}).",
    },
    "input_length": {
        "fr": "Longueur invalide ({{ rule.min_length }} à {{ rule.max_length }} caractères).",
        "en": "Invalid length ({{ rule.min_length }} to {{ rule.max_length }} characters).",
    },
    "input_pattern": {"fr": "Format invalide.", "en": "Invalid format."},
    "input_choice": {"fr": "Valeur non proposée.", "en": "Value not offered."},
}

#: Said when a code is dialled that no service answers (there is no service to take words from).
UNKNOWN_SERVICE = {
    "fr": "Ce code de service n'est pas disponible.",
    "en": "This service code is not available.",
}
