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
})();
