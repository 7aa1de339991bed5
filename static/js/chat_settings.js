/*
 * The "Retrieval & learning" controls of the chat screen. In a conversation every
 * change is sent at once (`session.configure`, see proxy/consumers.py); before the
 * first message there is no session to change, so the choices are kept and travel
 * with the first `chat` (or `session.create`), which starts the session with them.
 * The server's answer is the truth: the controls show what it confirms, also after
 * a slash command such as `/scope all`, and go back to it when a change is refused.
 * Talks to chat.js only through window.AutoSkillChat and the chat:send and
 * chat:message events on #chat-app.
 */
(function () {
  "use strict";

  var app = document.getElementById("chat-app");
  var form = document.getElementById("chat-settings");
  var chat = window.AutoSkillChat;
  if (!app || !form || !chat) { return; }

  var FIELDS = ["scope", "top_k", "min_score", "rewrite_mode", "extract_mode", "extract_turn_limit"];
  var WHOLE = { top_k: true, extract_turn_limit: true };
  var status = document.getElementById("chat-settings-status");
  var note = document.getElementById("chat-settings-note");
  var extractNow = document.getElementById("extract-now");

  function control(name) { return form.elements.namedItem(name); }

  function label(name) {
    var node = form.querySelector('label[for="' + control(name).id + '"]');
    return node ? node.textContent : name;
  }

  function say(text) { status.textContent = text; }

  // What the person sees for a value: a select's option text ("Mine + library").
  function display(name, value) {
    var input = control(name);
    if (input.tagName !== "SELECT") { return String(value); }
    var option = input.querySelector('option[value="' + CSS.escape(String(value)) + '"]');
    return option ? option.textContent : String(value);
  }

  function has(object, name) { return Object.prototype.hasOwnProperty.call(object, name); }

  // What the server rendered or last confirmed, as control values.
  var confirmed = {};
  FIELDS.forEach(function (name) { confirmed[name] = control(name).value; });
  // Choices made before the conversation exists; sent with its first message.
  var pending = {};

  function syncDisabled() {
    // The turn counter only matters in auto mode; greyed out otherwise.
    control("extract_turn_limit").disabled = control("extract_mode").value !== "auto";
  }

  /** Show `settings` (any subset; other keys such as turn counters are ignored). */
  function show(settings) {
    FIELDS.forEach(function (name) {
      if (has(settings, name) && settings[name] !== null && settings[name] !== undefined) {
        control(name).value = String(settings[name]);
        confirmed[name] = control(name).value;
      }
    });
    syncDisabled();
  }

  function revert() {
    FIELDS.forEach(function (name) { control(name).value = confirmed[name]; });
    syncDisabled();
  }

  // Checked here as well as on the server, so a slip cannot hold up a first message.
  function parse(name, raw) {
    var text = String(raw).trim();
    var input = control(name);
    if (WHOLE[name]) {
      var high = input.max ? Number(input.max) : Infinity;
      var number = Number(text);
      if (!/^\d+$/.test(text) || number < 1 || number > high) {
        var range = high === Infinity ? "of at least 1" : "from 1 to " + high;
        return { error: label(name) + " must be a whole number " + range + "." };
      }
      return { value: number };
    }
    if (name === "min_score") {
      var score = text === "" ? NaN : Number(text);
      if (!(score >= 0 && score <= 1)) {
        return { error: label(name) + " must be a number from 0 to 1." };
      }
      return { value: score };
    }
    return { value: text };
  }

  function changedText(changed) {
    var names = Object.keys(changed || {}).filter(function (name) { return FIELDS.indexOf(name) >= 0; });
    if (!names.length) { return "Nothing changed."; }
    return "Saved: " + names.map(function (name) {
      return label(name) + " " + display(name, changed[name]);
    }).join(", ") + ".";
  }

  function becameSession() {
    pending = {};
    extractNow.disabled = false;
    note.textContent = "Changes apply to this conversation at once.";
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); });

  form.addEventListener("change", function (event) {
    var name = event.target.name;
    if (FIELDS.indexOf(name) < 0) { return; }
    syncDisabled();
    var parsed = parse(name, event.target.value);
    if (parsed.error) {
      chat.notice("error", parsed.error + " It stays " + display(name, confirmed[name]) + ".");
      revert();
      return;
    }
    var sessionId = chat.sessionId();
    if (!sessionId) {
      pending[name] = parsed.value;
      confirmed[name] = event.target.value;
      say("Kept for the new conversation: " + label(name) + " " + display(name, event.target.value) + ".");
      return;
    }
    var settings = {};
    settings[name] = parsed.value;
    if (chat.send({ type: "session.configure", session_id: sessionId, settings: settings })) {
      say("Saving " + label(name) + "…");
    } else {
      revert();  // not connected; chat.js has said so
    }
  });

  // Fresh conversations take the kept choices along.
  app.addEventListener("chat:send", function (event) {
    var message = event.detail;
    var starts = (message.type === "chat" || message.type === "session.create") && !message.session_id;
    if (starts && Object.keys(pending).length) {
      message.settings = Object.assign({}, pending);
    }
  });

  app.addEventListener("chat:message", function (event) {
    var data = event.detail;
    var current = chat.sessionId();
    if (data.type === "session.configured" && data.session && data.session.id === current) {
      show(data.session.settings || {});
      say(changedText(data.changed));
    } else if (data.type === "session.created" && data.session && data.session.id === current) {
      show(data.session.settings || {});
      becameSession();
    } else if (data.type === "command" && data.session_id === current && data.settings) {
      show(data.settings);
    } else if (data.type === "error" && data.request === "session.configure") {
      revert();  // the notice with the reason comes from chat.js
      say("");
    }
  });

  extractNow.addEventListener("click", function () {
    if (chat.busy()) {
      chat.notice("error", "A reply is still streaming; extract once it has finished.");
      return;
    }
    chat.sendChat("/extract_now");
  });

  syncDisabled();
})();
