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
