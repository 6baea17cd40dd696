// Long jobs (core/jobs.py): the progress bars on a job's page and on "my jobs" follow
// the `job.progress` events realtime.js hands on as `platform:event`. The page itself
// renders the stored state, so a reload shows where the job is, then goes on live.
"use strict";
(function () {
  function text(box, status) {
    return box.dataset["t" + status.charAt(0).toUpperCase() + status.slice(1)] || status;
  }

  function update(box, job) {
    // A late progress step never undoes the end.
    const ended = (s) => s === "done" || s === "failed";
    if (ended(box.dataset.status) && !ended(job.status)) return;
    box.dataset.status = job.status;
    box.dataset.done = String(Number(job.done) || 0);
    const status = box.querySelector(".job-status-text");
    if (status) status.textContent = text(box, job.status);
    const count = box.querySelector(".job-count");
    if (count) count.textContent = job.total ? `${Number(job.done)} / ${Number(job.total)}` : "";
    const bar = box.querySelector(".job-bar");
    if (bar) {
      const pct = Math.max(0, Math.min(100, Number(job.percent) || 0));
      bar.value = pct;
      bar.textContent = pct + "%";
    }
    const message = box.querySelector(".job-message");
    if (message) {
      message.textContent = job.message || "";
      message.classList.toggle("errors", job.status === "failed");
    }
    const result = box.querySelector(".job-result");
    if (result) {
      const link = result.querySelector("a");
      const url = typeof job.result_url === "string" && job.result_url.startsWith("/") ? job.result_url : "";
      if (link && url) link.href = url;
      result.hidden = !(job.status === "done" && url);
    }
  }

  // When the socket opens (first time, or after a reconnect), re-read each unfinished
  // job's bar: a step stored between the page's render and the socket's start would
  // otherwise wait for the next one.
  function refresh() {
    document.querySelectorAll("[data-job]").forEach((box) => {
      if (box.dataset.status === "done" || box.dataset.status === "failed") return;
      const id = Number(box.dataset.job);
      fetch(`/jobs/${id}/?partial=1`, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then((r) => (r.ok ? r.text() : null))
        .then((html) => {
          if (html === null) return;
          const doc = new DOMParser().parseFromString(html, "text/html");
          const fresh = doc.querySelector(`[data-job="${id}"]`);
          if (!fresh) return;
          const ended = (s) => s === "done" || s === "failed";
          if (ended(box.dataset.status) && !ended(fresh.dataset.status)) return;
          // An event that came while the page was fetched may be newer than the page.
          if (fresh.dataset.status === box.dataset.status && Number(fresh.dataset.done) < Number(box.dataset.done)) return;
          // Keep the list's own result link rule: the page's bar carries the link.
          box.replaceWith(fresh);
        })
        .catch(() => {});
    });
  }
  document.addEventListener("platform:open", refresh);

  document.addEventListener("platform:event", (event) => {
    const frame = event.detail;
    if (!frame || frame.type !== "job.progress" || !frame.job) return;
    document.querySelectorAll(`[data-job="${Number(frame.job.id)}"]`).forEach((box) => update(box, frame.job));
  });
})();
