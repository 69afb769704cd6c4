// The composer's dry run: as the message or the audience changes, ask the server who would
// get it and how each channel shows it (nothing is sent), and show that under the form.
(function () {
  "use strict";
  const form = document.getElementById("composer");
  const preview = document.getElementById("preview");
  if (!form || !preview) return;
  let timer = null;
  let asked = 0;

  async function dryRun() {
    const mine = ++asked;
    try {
      const resp = await fetch(form.dataset.preview, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "X-Partial": "1" }, redirect: "manual",
      });
      if (resp.type === "opaqueredirect") {
        window.location.reload(); // signed out meanwhile
        return;
      }
      if (mine !== asked) return; // an older answer never overwrites a newer one
      if (resp.ok || resp.status === 400) {
        preview.innerHTML = await resp.text(); // the count, or what is wrong with the fields
      } else {
        trouble(resp.status === 503 ? "the bot cannot reach its database (Redis)"
                                    : "the server answered " + resp.status);
      }
    } catch (err) {
      if (mine === asked) trouble("no connection to the server"); // the next change asks again
    }
  }

  function trouble(why) {
    const p = document.createElement("p");
    p.className = "warning";
    p.setAttribute("role", "alert");
    p.textContent = "No count: " + why + ". Change a field to try again.";
    preview.replaceChildren(p);
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(dryRun, 300);
  }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  dryRun(); // the count for the audience as it stands
})();
