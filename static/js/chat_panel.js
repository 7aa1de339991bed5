/*
 * The per-turn panel of a live reply (retrieval, extraction job), the job status
 * updates and the notices. Built with DOM calls and textContent only: every value
 * here came from a model or a user, so none of it is ever parsed as HTML. The server
 * renders the same structure for saved turns (templates/chat_turn_panel.html).
 */
(function () {
  "use strict";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function queries(retrieval) {
    var dl = el("dl", "turn-queries");
    function row(term, value, muted) {
      dl.appendChild(el("dt", "", term));
      var dd = el("dd");
      dd.appendChild(el("span", muted ? "muted" : "", value));
      dl.appendChild(dd);
    }
    row("Original query", retrieval.original_query);
    if (retrieval.rewritten) {
      row("Rewritten query", retrieval.rewritten_query);
    } else {
      var reason = retrieval.rewrite_reason ? " (" + retrieval.rewrite_reason + ")" : "";
      row("Rewritten query", "not rewritten" + reason, true);
    }
    row("Scope", retrieval.scope);
    return dl;
  }

  function hitsTable(hits) {
    var table = el("table", "hits");
    table.appendChild(el("caption", "visually-hidden", "Retrieved skills"));
    var head = el("tr");
    ["Skill", "Score", "Source", "Version", "Injected"].forEach(function (name) {
      var th = el("th", "", name);
      th.scope = "col";
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    hits.forEach(function (hit) {
      var tr = body.appendChild(el("tr"));
      var name = tr.appendChild(el("td"));
      if (hit.id) {
        name.appendChild(el("a", "", hit.title || hit.name)).href = skillUrl(hit.id);
      } else {
        name.textContent = hit.title || hit.name;
      }
      [hit.score, hit.source, hit.version, hit.injected ? "yes" : "no"]
        .forEach(function (value) { tr.appendChild(el("td", "", value)); });
    });
    return table;
  }

  /** A <details> panel for a turn; `retrieval` may be null until its event arrives. */
  function buildPanel(retrieval) {
    var details = el("details", "turn-panel");
    details.appendChild(el("summary", "", "Turn details"));
    var slot = details.appendChild(el("div", "turn-retrieval"));
    if (retrieval) { fillRetrieval(details, retrieval); } else {
      slot.appendChild(el("p", "muted", "Retrieving skills…"));
    }
    var extraction = details.appendChild(el("div", "turn-extraction"));
    extraction.appendChild(el("span", "label", "Extraction:"));
    extraction.appendChild(document.createTextNode(" "));
    extraction.appendChild(el("span", "job-status", "pending (after the reply)"));
    extraction.appendChild(el("ul", "job-skills"));
    return details;
  }

  function fillRetrieval(panel, retrieval) {
    var slot = panel.querySelector(".turn-retrieval");
    slot.textContent = "";
    slot.appendChild(queries(retrieval));
    slot.appendChild(el("p", "turn-why", retrieval.why || ""));
    if (retrieval.hits && retrieval.hits.length) { slot.appendChild(hitsTable(retrieval.hits)); }
  }

  /** Show the turn's extraction outcome from the `done` event. */
  function setExtraction(panel, extraction) {
    var box = panel.querySelector(".turn-extraction");
    if (!extraction) { return; }
    if (extraction.job_id) { box.setAttribute("data-job-id", extraction.job_id); }
    var text = extraction.status + (extraction.reason ? " (" + extraction.reason + ")" : "");
    if (extraction.error) { text += ": " + extraction.error; }
    box.querySelector(".job-status").textContent = text;
  }

  // The skill pages' prefix (`/skills/`), from the page's data-skill-url.
  var skillPrefix = "/skills/";

  function setSkillUrl(prefix) {
    if (prefix) { skillPrefix = prefix; }
  }

  function skillUrl(id) {
    return skillPrefix + encodeURIComponent(id) + "/";
  }

  function skillLink(skill) {
    var a = el("a", "", (skill.name || skill.id) + " v" + (skill.version || "?"));
    a.href = skillUrl(skill.id);
    return a;
  }

  /** A dismissable notice in `container`; errors are alerts, the rest status. */
  function notice(container, kind, text, link) {
    var box = el("div", "notice notice-" + kind);
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.appendChild(el("span", "", text));
    if (link) { box.appendChild(document.createTextNode(" ")); box.appendChild(link); }
    var close = el("button", "icon-button", "Dismiss");
    close.type = "button";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    container.appendChild(box);
  }

  /**
   * Apply a job event to every panel that follows the job; returns the skills the job
   * added or merged when it completed (for the notice), else an empty list.
   */
  function applyJobEvent(root, event) {
    var boxes = root.querySelectorAll('.turn-extraction[data-job-id="' + CSS.escape(event.job_id) + '"]');
    var text = event.status + (event.outcome ? " · " + event.outcome : "");
    if (event.message) { text += " — " + event.message; }
    if (event.error) { text += ": " + event.error; }
    var upserted = event.status === "completed" ? (event.upserted || []) : [];
    boxes.forEach(function (box) {
      box.querySelector(".job-status").textContent = text;
      var list = box.querySelector(".job-skills");
      list.textContent = "";
      upserted.forEach(function (skill) {
        list.appendChild(el("li")).appendChild(skillLink(skill));
      });
    });
    return upserted;
  }

  window.AutoSkillPanel = {
    el: el,
    buildPanel: buildPanel,
    fillRetrieval: fillRetrieval,
    setExtraction: setExtraction,
    applyJobEvent: applyJobEvent,
    setSkillUrl: setSkillUrl,
    skillLink: skillLink,
    notice: notice
  };
})();
