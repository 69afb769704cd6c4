// The staffing board refreshes itself: the same page, asked for its board part only.
// Filters apply as soon as they change. Without JavaScript the page still works (Show).
(function () {
  "use strict";
  const board = document.getElementById("board");
  const filters = document.getElementById("filters");
  if (!board) return;
  const every = Number(board.dataset.refresh || 15) * 1000;

  async function refresh() {
    try {
      const resp = await fetch(window.location.href, {
        headers: { "X-Partial": "1" }, credentials: "same-origin", redirect: "manual",
      });
      if (resp.type === "opaqueredirect" || resp.status === 302) {
        window.location.reload(); // signed out meanwhile: show the sign-in page
        return;
      }
      if (resp.ok) board.innerHTML = await resp.text();
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
  window.setInterval(refresh, every);
})();
