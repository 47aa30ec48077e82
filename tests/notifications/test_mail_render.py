"""Alert e-mails render through ``messages._render`` (the templates' globals copied once per
delivery run, not merged per message): the output must stay exactly ``Template.render``'s."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask

from services.notifications.messages import _render
from services.notifications.wording import wording_for


def test_templates_render_as_jinja_renders_them_with_the_globals_copied_once(app: Flask) -> None:
    """``messages._render`` (globals copied once per run) gives ``Template.render``'s output:
    a global reaches the template, a message's value of the same name wins, errors still raise."""

    env = app.jinja_env
    env.globals["shout"] = lambda value: str(value).upper()
    try:
        template = env.from_string("{{ shout(title) }} {{ shout is defined }} {{ _('Details') }}{% for i in items %}"
                                   " <{{ i }}>{% endfor %}")
        context = {"title": "Lamp <1> & shade", "items": ["a&b", "<c>"], **wording_for("nl").jinja_callables()}
        assert _render(template, dict(template.globals), context) == template.render(context)
        assert "LAMP &lt;1&gt; &amp; SHADE True" in template.render(context)
        overriding = {**context, "shout": lambda value: "quiet"}
        assert _render(template, dict(template.globals), overriding) == template.render(overriding)
        for name in ("email/alert.txt", "email/alert.html"):
            alert = env.get_template(name)
            values = {"notification": SimpleNamespace(title="t <b>", body="b & c"), "items": [], "link": None,
                      "base_url": "http://m", "unsubscribe_url": "http://u", "channels_url": "http://c",
                      "channel_name": "a@b", "user": SimpleNamespace(locale="nl"), **context}
            assert _render(alert, dict(alert.globals), values) == alert.render(values)
        failing = env.from_string("{{ 1 // zero }}")
        with pytest.raises(ZeroDivisionError):
            _render(failing, dict(failing.globals), {"zero": 0})
    finally:
        del env.globals["shout"]
