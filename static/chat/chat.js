// Streams the answer to a question: POST the form, read server-sent events from the
// response body, show tokens as text as they arrive, then swap in the logged turn's HTML
// (rendered and sanitised on the server). Without JavaScript the form posts normally.
(function () {
  "use strict";
  const form = document.getElementById("ask-form");
  const list = document.getElementById("conv-list");
  // on a phone the conversation list starts folded, so the chat comes first
  if (form && list && window.matchMedia("(max-width: 700px)").matches) list.open = false;
  if (!form || !window.fetch || !window.ReadableStream) return;
  const turns = document.getElementById("turns");
  const problem = document.getElementById("chat-problem");
  const button = form.querySelector("button[type=submit]");
  const textarea = form.querySelector("textarea[name=question]");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text; // never innerHTML for untrusted text
    return node;
  }

  function placeholder(question) {
    const article = el("article", "turn streaming");
    const q = el("div", "bubble question");
    q.appendChild(el("p", "", question));
    const a = el("div", "bubble answer");
    const meta = el("div", "meta small muted", "Thinking…");
    const text = el("div", "prose answer-text");
    a.append(meta, text, el("span", "cursor", "▍"));
    article.append(q, a);
    return { article, meta, text };
  }

  function showProblem(message) {
    problem.textContent = message;
    problem.hidden = false;
  }

  // the first answer names the conversation, and every answer uses one of today's questions
  function updatePage(payload) {
    const title = payload.title || "New conversation";
    for (const id of ["conv-title", "conv-current-link"]) {
      const node = document.getElementById(id);
      if (node) node.textContent = title;
    }
    document.title = title + " · ReviewHub";
    const left = document.getElementById("questions-left");
    if (left && payload.questions_left !== null && payload.questions_left !== undefined) {
      const n = payload.questions_left;
      left.textContent = n + " question" + (n === 1 ? "" : "s") + " left today.";
    }
  }

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const question = textarea.value.trim();
    if (!question) { showProblem("Please type a question."); return; }
    problem.hidden = true;
    const data = new FormData(form);
    const empty = document.getElementById("no-turns");
    if (empty) empty.remove();
    const view = placeholder(question);
    turns.appendChild(view.article);
    view.article.scrollIntoView({ block: "end" });
    button.disabled = true;
    textarea.value = "";
    try {
      const response = await fetch(form.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "text/event-stream", "X-CSRFToken": data.get("csrfmiddlewaretoken") },
      });
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let finished = false;
      while (!finished) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) !== -1) {
          const raw = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const name = (raw.match(/^event: (.*)$/m) || [])[1];
          const line = (raw.match(/^data: (.*)$/m) || [])[1];
          const payload = line ? JSON.parse(line) : null;
          if (name === "sources") {
            view.meta.textContent = payload.model + " · " + payload.count + " source" + (payload.count === 1 ? "" : "s");
          } else if (name === "token") {
            view.text.textContent += payload;
          } else if (name === "done") {
            const holder = document.createElement("div");
            holder.innerHTML = payload.html; // server-rendered, sanitised
            const fresh = holder.firstElementChild;
            view.article.replaceWith(fresh);
            if (window.htmx) window.htmx.process(fresh);
            updatePage(payload);
            finished = true;
          } else if (name === "problem") {
            view.article.remove();
            textarea.value = question;
            showProblem(payload.message);
            finished = true;
          }
        }
      }
      if (!finished) throw new Error("the answer stream ended early");
    } catch (error) {
      view.article.remove();
      textarea.value = question;
      showProblem("Could not reach the server (" + error.message + "). Please try again.");
    } finally {
      button.disabled = false;
      textarea.focus();
    }
  });
})();
