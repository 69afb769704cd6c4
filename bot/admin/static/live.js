// A live part of a page (the staffing board, a broadcast's progress) refreshes itself: the
// same page, asked for that part only (X-Partial), every data-refresh seconds, until the
// part says it is final (a finished broadcast). Filters apply as soon as they change.
// Without JavaScript the pages still work (reload; Show).
(function () {
  "use strict";
  const live = document.querySelector("[data-refresh]");
  const filters = document.getElementById("filters");
  if (!live) return;
  const every = Number(live.dataset.refresh || 15) * 1000;
  let timer = null;

  async function refresh() {
    try {
      const resp = await fetch(window.location.href, {
        headers: { "X-Partial": "1" }, credentials: "same-origin", redirect: "manual",
      });
      if (resp.type === "opaqueredirect" || resp.status === 302) {
        window.location.reload(); // signed out meanwhile: show the sign-in page
        return;
      }
      if (resp.ok) live.innerHTML = await resp.text();
      if (live.querySelector("[data-final]") && timer !== null) {
        window.clearInterval(timer); // nothing more will change
        timer = null;
      }
    } catch (err) {
      // Offline for a moment: the next refresh tries again.
    }
  }

  if (filters) {
    filters.addEventListener("change", function () {
      const url = new URL(filters.action, window.location.href);
      new FormData(filters).forEach(function (value, key) {
        if (value) url.searchParams.set(key, value);
      });
      window.history.replaceState(null, "", url);
      refresh();
    });
  }
  if (!live.querySelector("[data-final]")) timer = window.setInterval(refresh, every);
})();
