"""The affiliate network's side of the sandbox over HTTP, under ``/__sandbox__/affiliate/``:
its state, the conversion report (CSV), settling orders, pushing postbacks, and its settings.

    GET  /__sandbox__/affiliate              clicks noted and orders made (JSON)
    GET  /__sandbox__/affiliate/report.csv   the conversion report, as the network exports it
    POST /__sandbox__/affiliate/confirm      settle pending orders (confirmed or rejected)
    POST /__sandbox__/affiliate/push         {"url": ..., "secret": ..., "all": false}: signed postbacks
    POST /__sandbox__/affiliate/config       {"conversion_share": 0.3, "ref_param": "subid"}
    POST /__sandbox__/affiliate/reset        forget every click and order
"""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .affiliate_network import AffiliateNetwork
from .control import request_params
from .model import CatalogError
from .routing import json_response


class AffiliateApi:
    """Handlers for the ``aff_*`` endpoints of the URL map; bad parameters are a 400."""

    def __init__(self, network: AffiliateNetwork) -> None:
        self.network = network

    def aff_state(self, request: Request) -> Response:
        return json_response(self.network.state())

    def aff_report(self, request: Request) -> Response:
        return Response(self.network.report_csv(), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="conversions.csv"'})

    def aff_confirm(self, request: Request) -> Response:
        return json_response({"settled": self.network.confirm()})

    def aff_push(self, request: Request) -> Response:
        params = request_params(request)
        try:
            results = self.network.push(str(params.get("url") or ""), str(params.get("secret") or ""),
                                        all_orders=str(params.get("all", "")).lower() in ("1", "true", "yes"))
        except ValueError as exc:
            raise CatalogError(str(exc)) from None
        return json_response({"pushed": results})

    def aff_config(self, request: Request) -> Response:
        params = request_params(request)
        try:
            self.network.configure(params.get("conversion_share"), params.get("ref_param"))
        except ValueError as exc:
            raise CatalogError(str(exc)) from None
        return json_response(self.network.state())

    def aff_reset(self, request: Request) -> Response:
        self.network.reset()
        return json_response(self.network.state())
