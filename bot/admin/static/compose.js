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
      const html = await resp.text();
      if (mine === asked) preview.innerHTML = html; // an older answer never overwrites a newer
    } catch (err) {
      // Offline for a moment: the next change asks again.
    }
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(dryRun, 300);
  }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  dryRun(); // the count for the audience as it stands
})();
