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
  // A refresh that fails says so: figures that silently stop changing look like a quiet day.
  const notice = document.createElement("p");
  notice.className = "warning";
  notice.id = "stale";
  notice.setAttribute("role", "alert");
  notice.hidden = true;
  live.parentNode.insertBefore(notice, live);
  let fresh = new Date().toLocaleTimeString();

  function stale(why) {
    notice.textContent = "Not up to date since " + fresh + ": " + why + ". Trying again.";
    notice.hidden = false;
  }

  async function refresh() {
    try {
      const resp = await fetch(window.location.href, {
        headers: { "X-Partial": "1" }, credentials: "same-origin", redirect: "manual",
      });
      if (resp.type === "opaqueredirect" || resp.status === 302) {
        window.location.reload(); // signed out meanwhile: show the sign-in page
        return;
      }
      if (!resp.ok) {
        stale(resp.status === 503 ? "the bot cannot reach its database (Redis)"
                                  : "the server answered " + resp.status);
        return;
      }
      live.innerHTML = await resp.text();
      fresh = new Date().toLocaleTimeString();
      notice.hidden = true;
      if (live.querySelector("[data-final]") && timer !== null) {
        window.clearInterval(timer); // nothing more will change
        timer = null;
      }
    } catch (err) {
      stale("no connection to the server"); // the next refresh tries again
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
