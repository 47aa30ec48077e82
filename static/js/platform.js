// The platform page's live cards: every 30 s ask for the figures (If-None-Match: nothing is
// sent back while they are unchanged), write the new values into the cards, and mark the
// figures stale when they cannot be fetched or are older than twice their cache life.
// Without this script the page is complete as served; this only keeps it current.
(function () {
  "use strict";
  var section = document.getElementById("kpis");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-live-url");
  var etag = section.getAttribute("data-etag");
  var maxAge = parseInt(section.getAttribute("data-max-age"), 10) || 30;
  var measuredAt = Date.parse(section.getAttribute("data-measured-at"));
  var staleMark = section.querySelector("[data-kpi-stale]");
  var lang = document.documentElement.lang || undefined;

  function fixed(value, digits) { return Number(value).toLocaleString(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }); }
  function pct(value, digits) { return value === null ? "—" : fixed(value, digits) + " %"; }
  function ms(value) { return value === null ? "—" : (value >= 10 ? fixed(value, 0) : fixed(value, 1)) + " ms"; }
  function lag(seconds) {
    if (seconds < 1) { return section.getAttribute("data-none-label") || "0 s"; }
    if (seconds < 120) { return fixed(seconds, 0) + " s"; }
    if (seconds < 7200) { return fixed(seconds / 60, 0) + " min"; }
    return fixed(seconds / 3600, 1) + " h";
  }
  var formats = {
    uptime_24h: function (v) { return pct(v, 2); },
    uptime_30d: function (v) { return pct(v, 2); },
    p50_ms: ms, p95_ms: ms,
    error_rate: function (v) { return v === null ? "—" : pct(v * 100, 2); },
    requests_per_minute: function (v) { return v === null ? "—" : fixed(v, 1); },
    polling_lag_seconds: lag,
    cpu: function (v) { return pct(v, 1); },
    memory: function (v) { return pct(v, 1); },
    disk: function (v) { return pct(v, 1); }
  };

  function markStale(stale) {
    if (staleMark) { staleMark.hidden = !stale; }
    section.classList.toggle("is-stale", stale);
  }

  function apply(payload) {
    measuredAt = Date.parse(payload.measured_at);
    Object.keys(payload.kpis).forEach(function (key) {
      var cell = section.querySelector('[data-kpi="' + key + '"]');
      if (!cell) { return; }
      var value = payload.kpis[key];
      var text = formats[key] ? formats[key](value) : String(value);
      if (cell.textContent !== text) { cell.textContent = text; }
    });
    var outcomes = payload.kpis.polls_24h_by_outcome || {};
    section.querySelectorAll("[data-outcome]").forEach(function (item) {
      var count = item.querySelector("[data-outcome-count]");
      if (count) { count.textContent = String(outcomes[item.getAttribute("data-outcome")] || 0); }
    });
  }

  function refresh() {
    var headers = { "Accept": "application/json" };
    if (etag) { headers["If-None-Match"] = '"' + etag + '"'; }
    fetch(url, { headers: headers, credentials: "same-origin" }).then(function (response) {
      if (response.status === 304) { return null; }
      if (!response.ok) { throw new Error("status " + response.status); }
      var tag = response.headers.get("ETag");
      etag = tag ? tag.replace(/^W\//, "").replace(/"/g, "") : null;
      return response.json();
    }).then(function (payload) {
      if (payload) { apply(payload); }
      markStale(Date.now() - measuredAt > 2 * maxAge * 1000);
    }).catch(function () { markStale(true); });
  }

  window.setInterval(refresh, maxAge * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
