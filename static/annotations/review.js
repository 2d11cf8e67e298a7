// Keyboard shortcuts for the review flow. Everything also works with a mouse / without JS.
(function () {
  "use strict";
  const criteria = Array.from(document.querySelectorAll("[data-criterion]"));
  let current = -1;

  function mark(index) {
    criteria.forEach((c, i) => c.classList.toggle("focused", i === index));
    current = index;
  }
  function focusCriterion(index) {
    if (!criteria.length) return;
    index = Math.max(0, Math.min(criteria.length - 1, index));
    mark(index);
    const checked = criteria[index].querySelector("input:checked");
    (checked || criteria[index]).focus();
  }
  document.addEventListener("focusin", (e) => {
    const c = e.target.closest && e.target.closest("[data-criterion]");
    if (c) mark(criteria.indexOf(c));
  });
  function isTyping(el) {
    if (!el) return false;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable) return true;
    return el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(el.type);
  }
  function click(id) { const b = document.getElementById(id); if (b) b.click(); return !!b; }
  function submit(id) { const f = document.getElementById(id); if (f) f.requestSubmit(); }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const active = document.activeElement;
    if (isTyping(active)) {
      if (e.key === "Escape") { active.blur(); e.preventDefault(); }
      return;
    }
    const help = document.getElementById("shortcut-help");
    if (help && help.open && e.key !== "?" && e.key !== "Escape") return;
    if (/^[1-9]$/.test(e.key) && criteria.length) {
      const index = current >= 0 ? current : 0;
      const radio = criteria[index].querySelector(`input[type=radio][value="${e.key}"]`);
      if (radio) {
        radio.checked = true;
        radio.dispatchEvent(new Event("change", { bubbles: true }));
        focusCriterion(index + 1 < criteria.length ? index + 1 : index);
      }
      e.preventDefault();
      return;
    }
    const actions = {
      "n": () => submit("next-form"),
      "s": () => click("btn-skip"),
      "p": () => click("btn-put-down"),
      "a": () => click("btn-approve") || click("btn-a"),  // approve, or "A is better"
      "b": () => click("btn-b"),
      "t": () => click("btn-tie"),
      "c": () => submit("pair-next-form"),
      "r": () => click("btn-reject"),
      "o": () => click("btn-second"),
      "j": () => focusCriterion(current + 1),
      "k": () => focusCriterion(current - 1),
      "e": () => {
        const t = document.getElementById("corrected-answer");
        if (t) { t.focus(); t.setSelectionRange(t.value.length, t.value.length); }
      },
      "?": () => { if (help) { help.open ? help.close() : help.showModal(); } },
    };
    const action = actions[e.key];
    if (action) { e.preventDefault(); action(); }
  });
  if (criteria.length) mark(0);
})();
