// MailPanel Pro assistant: follow an answer as it streams in, and stop it. No inline script (CSP).
"use strict";

function followDraft(section) {
  const output = section.querySelector("[data-output]");
  const status = section.querySelector("[data-status]");
  const failure = section.querySelector("[data-failure]");
  const stopButton = section.querySelector("[data-stop]");
  const stopForm = section.querySelector("[data-stop-form]");
  const stopText = section.querySelector("[data-stop-text]");
  const openLink = section.querySelector("[data-open]");
  const stateLabel = document.querySelector("[data-draft-state]");
  const source = new EventSource(section.dataset.draftStream);
  let tokens = 0;

  function finish(state) {
    source.close();
    stopButton.hidden = true;
    section.dataset.finished = state;
  }

  source.addEventListener("token", (event) => {
    const piece = JSON.parse(event.data).t;
    if (tokens === 0) {
      status.textContent = "Writing…";
      if (stateLabel) stateLabel.textContent = "Being written";
    }
    tokens += 1;
    output.append(piece);
    section.dataset.tokens = String(tokens);
  });
  source.addEventListener("done", (event) => {
    const data = JSON.parse(event.data);
    finish("done");
    status.textContent = "Done. Deliverability score " + data.score + "/100. Opening the draft…";
    window.location.assign(data.url);
  });
  source.addEventListener("failure", (event) => {
    const data = JSON.parse(event.data);
    finish("failure");
    status.textContent = data.partial ? "Stopped early." : "No answer.";
    failure.textContent = data.message;
    failure.hidden = false;
    openLink.hidden = false;
    openLink.textContent = data.partial ? "Open the incomplete draft" : "Open the draft";
  });
  source.addEventListener("end", (event) => {
    const data = JSON.parse(event.data);
    finish("end");
    if (data.message) {
      status.textContent = data.message;
      openLink.hidden = false;
    } else {
      window.location.assign(data.url);
    }
  });
  source.addEventListener("error", () => {
    // A dropped connection: EventSource reconnects by itself and the server answers
    // "end" once the draft was saved. Only a closed source needs telling.
    if (source.readyState === EventSource.CLOSED && !section.dataset.finished) {
      status.textContent = "The connection to the panel was lost.";
      openLink.hidden = false;
    }
  });

  stopButton.addEventListener("click", () => {
    finish("stopped");
    status.textContent = "Stopped after " + tokens + " pieces.";
    if (stateLabel) stateLabel.textContent = "Stopped";
    stopText.value = output.textContent;
    stopForm.hidden = false;
    stopForm.querySelector("button").focus();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-draft-stream]").forEach(followDraft);
});
