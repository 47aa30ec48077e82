"""The conversion report upload: upload the network's CSV, say which column holds which field
while looking at its first rows, import. The checks and the writing are
``services.affiliate_conversions`` (the same as ``flask affiliate import``); the file waits in
``services.affiliate_uploads`` between the two steps."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from blueprints.admin import bp
from services import affiliate_uploads
from services.affiliate_conversions import FIELDS, ConversionImportError, import_csv, normalise_header
from services.audit import record_admin_action

SHOWN_ERRORS = 20


@bp.route("/affiliate/import", methods=["GET", "POST"])
def affiliate_import() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("admin/affiliate_import.html")
    upload = request.files.get("report")
    if upload is None or not upload.filename:
        flash(_("Choose the conversion report (a CSV file) to upload."), "error")
        return render_template("admin/affiliate_import.html"), 400
    try:
        text = affiliate_uploads.decode_upload(upload.read(affiliate_uploads.MAX_UPLOAD_BYTES + 1))
        affiliate_uploads.preview(text)
    except affiliate_uploads.UploadError as exc:
        flash(_("This file cannot be imported: %(reason)s", reason=str(exc)), "error")
        return render_template("admin/affiliate_import.html"), 400
    token = affiliate_uploads.stash(text)
    return redirect(url_for("admin.affiliate_import_mapping", token=token))


@bp.route("/affiliate/import/<token>", methods=["GET", "POST"])
def affiliate_import_mapping(token: str) -> Response | tuple[str, int]:
    text = affiliate_uploads.load(token)
    if text is None:
        flash(_("That upload has expired; upload the file again."), "error")
        return redirect(url_for("admin.affiliate_import"))
    try:
        preview = affiliate_uploads.preview(text)
    except affiliate_uploads.UploadError:
        abort(400)
    chosen = preview.fields
    errors: list[str] = []
    if request.method == "POST":
        chosen = {}
        for index in range(len(preview.header)):
            field = request.form.get(f"column-{index}", "")
            if field in FIELDS:
                chosen[index] = field
        duplicates = sorted({field for field in chosen.values() if list(chosen.values()).count(field) > 1})
        if duplicates:
            errors = [_("%(field)s is chosen for more than one column.", field=field) for field in duplicates]
        else:
            mapping = {normalise_header(preview.header[index]): field for index, field in chosen.items()}
            try:
                report = import_csv(text, mapping, only_mapped=True)
            except ConversionImportError as exc:
                errors = [str(error) for error in exc.errors[:SHOWN_ERRORS]]
                if len(exc.errors) > SHOWN_ERRORS:
                    errors.append(_("… and %(n)s more", n=len(exc.errors) - SHOWN_ERRORS))
            else:
                affiliate_uploads.drop(token)
                record_admin_action("affiliate_conversions_imported", created=report.created,
                                    updated=report.updated, unchanged=report.unchanged)
                flash(_("Imported: %(created)s new, %(updated)s updated, %(unchanged)s unchanged orders "
                        "(%(unmatched)s without a known click).", created=report.created, updated=report.updated,
                        unchanged=report.unchanged, unmatched=report.unmatched), "success")
                return redirect(url_for("admin.affiliate_report"))
    return render_template("admin/affiliate_import_mapping.html", preview=preview, chosen=chosen, fields=FIELDS,
                           errors=errors, token=token), 400 if errors else 200
