// Confirmation before a destructive form is sent: <form data-confirm="Question?">, and with
// data-confirm-if="<checkbox name>" only when that box is ticked. A listener in a file of our
// own, because the Content-Security-Policy (script-src 'self') refuses inline onsubmit handlers.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset ? form.dataset.confirm : undefined;
  if (!question) return;
  const condition = form.dataset.confirmIf;
  if (condition && !(form.elements[condition] && form.elements[condition].checked)) return;
  if (!window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// <details data-open-wide>: folded on a phone, open where there is room (the explorer's
// filters). Only on load: a user who folds it keeps it folded.
if (window.matchMedia("(min-width: 701px)").matches) {
  for (const details of document.querySelectorAll("details[data-open-wide]")) details.open = true;
}

// <fieldset data-when="source=list">: shown only while the form's field `source` has that
// value (the new experiment's question sources: one set of fields at a time). Without
// JavaScript every fieldset shows, and the server reads the chosen one's fields only.
function showWhen(form) {
  for (const part of form.querySelectorAll("[data-when]")) {
    const [name, value] = part.dataset.when.split("=");
    const field = form.elements[name];
    part.hidden = Boolean(field) && field.value !== value;
  }
}
for (const form of document.querySelectorAll("form")) {
  if (form.querySelector("[data-when]")) showWhen(form);
}
document.addEventListener("change", (event) => {
  const form = event.target.form;
  if (form && form.querySelector("[data-when]")) showWhen(form);
});
