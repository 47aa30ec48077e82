// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Ask before destructive actions: <form data-confirm="Delete this monitor?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Live regions: <div data-poll="/api/..." data-poll-interval="10000"> replaces its text
  // fields [data-field=name] with the JSON values the endpoint returns.
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var interval = parseInt(el.getAttribute("data-poll-interval") || "15000", 10);
    function tick() {
      if (document.hidden) { return; }
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          el.querySelectorAll("[data-field]").forEach(function (node) {
            var key = node.getAttribute("data-field");
            if (Object.prototype.hasOwnProperty.call(data, key)) { node.textContent = data[key]; }
          });
        })
        .catch(function () { /* offline: keep the last values */ });
    }
    window.setInterval(tick, interval);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);

  // The notifications badge in the navigation stays current without a reload:
  // <a data-live-badge="/notifications/poll" data-badge-label="__N__ unread">. It polls every
  // 30 s, every 5 s for a little while after something new arrived or the tab came back,
  // every 2 min while the tab is hidden, and backs off (doubling, up to 5 min) on errors.
  // The ETag of the last answer goes back as If-None-Match: "nothing new" is a bodyless 304.
  // A 401 (logged out elsewhere, session revoked) stops the polling.
  function liveBadge(link) {
    var url = link.getAttribute("data-live-badge");
    var labelTemplate = link.getAttribute("data-badge-label") || "__N__";
    var BASE = 30000, FAST = 5000, HIDDEN = 120000, MAX_BACKOFF = 300000;
    var etag = null, cursor = null, fastLeft = 0, failures = 0, timer = null, stopped = false;

    function render(unread) {
      var badge = link.querySelector(".badge");
      if (!unread) { if (badge) { badge.remove(); } return; }
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(badge);
      }
      badge.textContent = String(unread);
      badge.setAttribute("aria-label", labelTemplate.replace("__N__", String(unread)));
    }

    function nextDelay() {
      if (failures) { return Math.min(MAX_BACKOFF, BASE * Math.pow(2, failures)); }
      if (document.hidden) { return HIDDEN; }
      if (fastLeft > 0) { fastLeft -= 1; return FAST; }
      return BASE;
    }

    function schedule(delay) {
      window.clearTimeout(timer);
      if (stopped) { return; }
      timer = window.setTimeout(tick, delay === undefined ? nextDelay() : delay);
    }

    function tick() {
      var headers = { "Accept": "application/json" };
      if (etag) { headers["If-None-Match"] = etag; }
      var target = cursor === null ? url : url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(cursor);
      // The URL carries a signed token: no cookies needed, so the server skips the session.
      var credentials = url.indexOf("t=") < 0 ? "same-origin" : "omit";
      fetch(target, { headers: headers, credentials: credentials, cache: "no-store" })
        .then(function (response) {
          if (response.status === 304) { return null; }
          if (response.status === 401) { stopped = true; return null; }
          if (!response.ok) { throw new Error("poll answered " + response.status); }
          etag = response.headers.get("ETag") || etag;
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          if (data) {
            if (cursor !== null && data.items && data.items.length) { fastLeft = 3; }
            cursor = data.cursor;
            render(data.unread);
          }
          schedule();
        })
        .catch(function () { failures += 1; schedule(); });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { fastLeft = 2; schedule(0); }
    });
    schedule(0);
  }
  document.querySelectorAll("[data-live-badge]").forEach(liveBadge);
})();
