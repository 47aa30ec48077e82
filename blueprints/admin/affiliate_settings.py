"""The affiliate settings page: affiliate id, link parameters, commission rates, currency and
payout threshold. The environment gives the defaults; what is saved here overrides them for
every process (``services.affiliate_settings``). A changed rate applies to orders imported
afterwards; orders already imported keep the rate they were imported with."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.admin import bp
from blueprints.admin.affiliate_forms import AffiliateSettingsForm
from services import affiliate_settings
from services.audit import record_admin_action


@bp.route("/affiliate/settings", methods=["GET", "POST"])
def affiliate_settings_page() -> Response | str | tuple[str, int]:
    settings = affiliate_settings.current()
    form = AffiliateSettingsForm()
    if request.method == "GET":
        form.affiliate_id.data = settings.affiliate_id
        form.url_params.data = settings.url_params
        form.commission_rates.data = settings.rates_text
        form.currency.data = settings.currency
        form.payout_threshold.data = str(settings.payout_threshold)
    else:
        valid = form.validate()  # lengths; the CSRF token is checked app-wide before this view
        text = {name: getattr(form, name).data or "" for name in affiliate_settings.FIELDS}
        try:
            if not valid:  # still run the domain checks, so every bad field says why at once
                affiliate_settings.check(text)
            else:
                saved = affiliate_settings.save(text, current_user.id)
                record_admin_action("affiliate_settings_saved", overridden=sorted(saved.overridden))
                flash(_("Affiliate settings saved. New rates apply to orders imported from now on."), "success")
                return redirect(url_for("admin.affiliate_settings_page"))
        except affiliate_settings.SettingsError as exc:
            for name, message in exc.errors.items():
                field = getattr(form, name)
                if not field.errors:
                    field.errors = [message]
    status = 400 if request.method == "POST" else 200
    return render_template("admin/affiliate_settings.html", form=form, settings=settings,
                           environment=affiliate_settings.environment()), status


@bp.post("/affiliate/settings/reset")
def affiliate_settings_reset() -> Response:
    """Drop every saved value: the environment's hold again (CSRF checked app-wide)."""
    affiliate_settings.reset(current_user.id)
    record_admin_action("affiliate_settings_reset")
    flash(_("Affiliate settings are back to the values of the environment."), "success")
    return redirect(url_for("admin.affiliate_settings_page"))
