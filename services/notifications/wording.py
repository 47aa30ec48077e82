"""One language's words and prices, looked up once for a batch of messages.

Flask-Babel finds the current translations on every call (the app context, ``g``, the forced
locale, its catalog cache): cheap once, but an alert e-mail asks for some 25 strings and a few
prices, and a delivery run renders hundreds of e-mails. A ``Wording`` holds one language's
catalog and babel ``Locale``, taken from Flask-Babel once (``wording_for``), so every string
and price of a batch comes from the same catalogs as ``force_locale`` + ``gettext`` would give,
without the lookups. ``jinja_callables`` are the template's ``gettext``/``ngettext`` with
Jinja's "newstyle" semantics (autoescaped, always formatted), so passing them in a template's
context renders exactly what the app-wide callables render under ``force_locale``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.support import NullTranslations
from flask_babel import force_locale, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from services.formatting import money


@dataclass
class Wording:
    """The strings and prices of one language (``wording_for``); not shared between threads."""

    locale: Locale
    translations: NullTranslations
    _jinja: dict[str, Any] = field(default_factory=dict)

    def gettext(self, string: str, **variables: Any) -> str:
        """Flask-Babel's ``gettext`` in this language."""
        text = str(self.translations.ugettext(string))
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str:
        """Flask-Babel's ``ngettext`` in this language (``num`` is a variable too)."""
        variables.setdefault("num", num)
        return str(self.translations.ungettext(singular, plural, num)) % variables

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        """``services.formatting.money`` in this language."""
        return money(amount, currency, locale=self.locale)

    def jinja_callables(self) -> dict[str, Any]:
        """``_``, ``gettext`` and ``ngettext`` for a template's context: they take precedence
        over the app-wide ones, which look the language up on every call. A string without
        variables (most of a template's) is translated once per language and escaping."""
        if not self._jinja:
            translations = self.translations
            constants: dict[tuple[str, bool], str] = {}

            @pass_context
            def gettext(context: Context, string: str, **variables: Any) -> str:
                autoescape = context.eval_ctx.autoescape
                if not variables and (string, autoescape) in constants:
                    return constants[string, autoescape]
                text: str = translations.ugettext(string)
                if autoescape:
                    text = Markup(text)
                text = text % variables
                if not variables:
                    constants[string, autoescape] = text
                return text

            @pass_context
            def ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
                variables.setdefault("num", num)
                text: str = translations.ungettext(singular, plural, num)
                if context.eval_ctx.autoescape:
                    text = Markup(text)
                return text % variables

            self._jinja.update({"_": gettext, "gettext": gettext, "ngettext": ngettext})
        return self._jinja


def wording_for(locale: str) -> Wording:
    """The catalog Flask-Babel would use under ``force_locale(locale)`` (app context needed)."""
    with force_locale(locale):
        translations = get_translations()
    return Wording(Locale.parse(locale), translations)
