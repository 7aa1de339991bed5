/*
 * The SKILL.md editor: checks the text on the server as the user types (debounced),
 * shows problems next to the editor with their line numbers, and keeps the preview
 * (frontmatter fields + Markdown body) up to date. The server check is the one
 * saving applies, so there is no second parser here. Saving is a normal form POST
 * and works without this script.
 */
(function () {
  "use strict";

  var DELAY_MS = 300;
  var form = document.getElementById("skill-editor");
  if (!form) { return; }
  var md = window.AutoSkillMarkdown;
  var textarea = document.getElementById("skill-md");
  var problemsBox = document.getElementById("editor-problems");
  var statusLine = document.getElementById("editor-status");
  var fieldsBody = document.getElementById("preview-fields");
  var previewBody = document.getElementById("preview-body");
  var url = form.getAttribute("data-validate-url");
  var skillId = form.getAttribute("data-skill-id") || "";
  var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  var timer = null;
  var sent = 0;      // number of the latest request; older answers are ignored
  var lastText = null;

  function renderBody(raw) {
    previewBody.innerHTML = md.render(raw || "");  // render() escapes first
    previewBody.classList.add("is-rendered");
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function goToLine(line) {
    var lines = textarea.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i += 1) { start += lines[i].length + 1; }
    var end = start + (lines[line - 1] || "").length;
    textarea.focus();
    textarea.setSelectionRange(start, end);
    // Scroll the line into view: an approximate line height is enough here.
    var lineHeight = parseFloat(window.getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  function showProblems(errors) {
    problemsBox.textContent = "";
    if (!errors.length) {
      textarea.removeAttribute("aria-invalid");
      return;
    }
    textarea.setAttribute("aria-invalid", "true");
    var n = errors.length;
    problemsBox.appendChild(el("p", n + " problem" + (n === 1 ? "" : "s") + " to fix before saving:", "problems-title"));
    var list = el("ul");
    errors.forEach(function (error) {
      var item = el("li");
      if (error.line) {
        var button = el("button", "Line " + error.line, "line-link");
        button.type = "button";
        button.setAttribute("data-line", String(error.line));
        item.appendChild(button);
        item.appendChild(document.createTextNode(": "));
      }
      item.appendChild(el("span", error.message, "problem-message"));
      list.appendChild(item);
    });
    problemsBox.appendChild(list);
  }

  function row(label, value) {
    var tr = el("tr");
    var th = el("th", label);
    th.scope = "row";
    tr.appendChild(th);
    tr.appendChild(el("td", value === "" || value === null || value === undefined ? "—" : value));
    return tr;
  }

  function showFields(fields) {
    fieldsBody.textContent = "";
    if (!fields || !fields.name) {
      var tr = el("tr");
      var td = el("td", "Fix the problems to see the fields.", "muted");
      td.colSpan = 2;
      tr.appendChild(td);
      fieldsBody.appendChild(tr);
      return;
    }
    fieldsBody.appendChild(row("Name", fields.name));
    fieldsBody.appendChild(row("Title", fields.title));
    fieldsBody.appendChild(row("Description", fields.description));
    fieldsBody.appendChild(row("Version", fields.version));
    fieldsBody.appendChild(row("Tags", (fields.tags || []).join(", ")));
    fieldsBody.appendChild(row("Triggers", (fields.triggers || []).join("; ")));
    fieldsBody.appendChild(row("Examples", fields.examples));
    if (fields.metadata && fields.metadata.length) {
      fieldsBody.appendChild(row("Other metadata", fields.metadata.join(", ")));
    }
  }

  function check() {
    var text = textarea.value;
    if (text === lastText) { return; }
    lastText = text;
    sent += 1;
    var mine = sent;
    var body = new URLSearchParams();
    body.set("skill_md", text);
    if (skillId) { body.set("skill_id", skillId); }
    statusLine.textContent = "Checking…";
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
        "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
        "Accept": "application/json"
      },
      body: body
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) {
        // A login page (expired session) or a CSRF failure page, not an answer.
        throw new Error("the live check answered " + response.status + "; reload the page (your session may have expired)");
      }
      return response.json();
    }).then(function (result) {
      if (mine !== sent) { return; }
      showProblems(result.errors || []);
      showFields(result.fields);
      renderBody(result.body);
      statusLine.textContent = result.ok ? "No problems found." : "";
    }).catch(function (error) {
      if (mine !== sent) { return; }
      lastText = null;  // try again on the next change
      statusLine.textContent = "Live check unavailable: " + error.message + ". Saving still checks the text.";
    });
  }

  textarea.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, DELAY_MS);
  });
  problemsBox.addEventListener("click", function (event) {
    var button = event.target.closest(".line-link");
    if (button) { goToLine(Number(button.getAttribute("data-line"))); }
  });
  // Ctrl/Cmd+S saves, as in most editors, instead of saving the web page.
  textarea.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  });

  renderBody(previewBody.textContent);
  lastText = textarea.value;  // the server already checked the text it rendered
})();
