// DCVaaS: progressive enhancement only; every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-autosubmit]")) event.target.form.requestSubmit();
});

// A form marked data-busy shows its button busy while its htmx request runs. The button is
// never disabled: a focused button that gets disabled loses keyboard focus to the page.
// (hx-sync="this:drop" on the form ignores presses while a request is in flight.)
document.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("[data-busy]");
  if (form) form.querySelector("button[type=submit]")?.setAttribute("aria-busy", "true");
});
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt.closest && event.detail.elt.closest("[data-busy]");
  if (form) form.querySelector("button[type=submit]")?.removeAttribute("aria-busy");
});
