/*
 * The skill admin's SKILL.md preview. Every [data-markdown] element holds raw
 * Markdown as text (escaped by the template); it is rendered with markdown.js,
 * which escapes before adding its own few tags, so stored HTML never runs.
 * On the change form the preview follows the text box, marked as unsaved.
 * Loaded in <head> by the admin's Media, so it waits for the document.
 */
(function () {
  "use strict";

  function render(node, markdown) {
    node.innerHTML = window.AutoSkillMarkdown.render(markdown);
    node.classList.add("is-rendered");
  }

  // The text after the frontmatter's closing "---" line (what the preview shows).
  function bodyOf(text) {
    var lines = String(text).replace(/^\ufeff/, "").replace(/\r\n?/g, "\n").split("\n");
    if (lines[0].trim() !== "---") { return lines.join("\n"); }
    for (var i = 1; i < lines.length; i += 1) {
      if (lines[i].trim() === "---") { return lines.slice(i + 1).join("\n"); }
    }
    return "";
  }

  function followEditor() {
    var input = document.querySelector("[data-skill-md-input]");
    var preview = document.getElementById("skill-md-preview");
    var status = document.getElementById("skill-md-preview-status");
    if (!input || !preview) { return; }
    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        render(preview, bodyOf(input.value));
        if (status) { status.textContent = "Your unsaved text (saving makes it a new version)."; }
      }, 250);
    });
  }

  function start() {
    document.querySelectorAll("[data-markdown]").forEach(function (node) {
      render(node, node.textContent);
    });
    followEditor();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
