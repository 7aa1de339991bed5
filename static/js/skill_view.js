/*
 * The skill page: renders every [data-markdown] element (its text is the raw
 * Markdown, escaped by the template) with the sanitising renderer in markdown.js,
 * which escapes before it adds its own tags. Without JavaScript the raw text stays.
 */
(function () {
  "use strict";

  var md = window.AutoSkillMarkdown;
  document.querySelectorAll("[data-markdown]").forEach(function (node) {
    node.innerHTML = md.render(node.textContent);
    node.classList.add("is-rendered");
  });
})();
