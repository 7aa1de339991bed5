/*
 * A tiny, safe Markdown renderer for chat replies.
 *
 * Safety comes from order: the text is HTML-escaped FIRST, and only then are the few
 * supported constructs turned into tags this file writes itself. Raw HTML in a reply
 * therefore always shows as text. Links are kept only for http(s) URLs, so a
 * `javascript:` link cannot exist. Supported: ``` fences (an unclosed fence while a
 * reply streams counts as code to the end), `inline code`, **bold**, *italic* /
 * _italic_, [text](https://...), #-headings, - / 1. lists, paragraphs.
 */
(function () {
  "use strict";

  var ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (ch) { return ESCAPES[ch]; });
  }

  // Placeholders keep inline code out of the bold/italic/link passes.
  var HOLD = "\u0000";

  function inline(escaped) {
    var held = [];
    function hold(html) {
      held.push(html);
      return HOLD + (held.length - 1) + HOLD;
    }
    var out = escaped.replace(/`([^`\n]+)`/g, function (_, code) {
      return hold("<code>" + code + "</code>");
    });
    out = out.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g, function (_, label, url) {
      return hold('<a href="' + url + '" rel="noopener noreferrer nofollow" target="_blank">' + label + "</a>");
    });
    out = out.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
    out = out.replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>");
    out = out.replace(/(^|[^\w])_([^_\n]+)_(?=$|[^\w])/g, "$1<em>$2</em>");
    return out.replace(new RegExp(HOLD + "(\\d+)" + HOLD, "g"), function (_, i) {
      return held[Number(i)];
    });
  }

  var BULLET = /^\s*[-*+]\s+(.*)$/;
  var NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
  var HEADING = /^(#{1,6})\s+(.*)$/;

  function list(lines, pattern, tag) {
    var items = lines.map(function (line) {
      return "<li>" + inline(line.match(pattern)[1]) + "</li>";
    });
    return "<" + tag + ">" + items.join("") + "</" + tag + ">";
  }

  function block(escaped) {
    var lines = escaped.split("\n");
    if (lines.every(function (l) { return BULLET.test(l); })) { return list(lines, BULLET, "ul"); }
    if (lines.every(function (l) { return NUMBERED.test(l); })) { return list(lines, NUMBERED, "ol"); }
    var heading = lines.length === 1 && lines[0].match(HEADING);
    if (heading) {
      // Reply headings sit under the page's own h1/h2, so they start at h3.
      var level = Math.min(6, heading[1].length + 2);
      return "<h" + level + ">" + inline(heading[2]) + "</h" + level + ">";
    }
    return "<p>" + lines.map(inline).join("<br>") + "</p>";
  }

  function prose(text) {
    return text
      .split(/\n\s*\n/)
      .map(function (chunk) { return chunk.replace(/^\n+|\n+$/g, ""); })
      .filter(function (chunk) { return chunk.trim() !== ""; })
      .map(function (chunk) { return block(escapeHtml(chunk)); })
      .join("");
  }

  function codeBlock(lang, code) {
    var cls = lang ? ' class="language-' + escapeHtml(lang) + '"' : "";
    return "<pre><code" + cls + ">" + escapeHtml(code.replace(/\n$/, "")) + "</code></pre>";
  }

  /** The reply as safe HTML (a string built only from escaped text and fixed tags). */
  function render(source) {
    var text = String(source || "").replace(/\r\n?/g, "\n").split(HOLD).join("");
    var fence = /```([\w+#.-]*)[^\n]*\n([\s\S]*?)(?:\n```[^\n]*(?:\n|$)|$)/g;
    var html = "";
    var last = 0;
    var match;
    while ((match = fence.exec(text)) !== null) {
      html += prose(text.slice(last, match.index));
      html += codeBlock(match[1], match[2]);
      last = fence.lastIndex;
      if (match[0] === "") { fence.lastIndex += 1; }
    }
    return html + prose(text.slice(last));
  }

  window.AutoSkillMarkdown = { render: render, escapeHtml: escapeHtml };
})();
