/*
 * The chat screen: one WebSocket to /ws/chat/ (protocol in proxy/consumers.py),
 * streaming replies, the session sidebar, per-turn panels and job notices.
 * Vanilla JS, no build step; markdown.js and chat_panel.js load first.
 */
(function () {
  "use strict";

  // Errors reach the page's banner through errors.js (loaded by base.html).
  var showError = window.AutoSkillErrors.show;

  var app = document.getElementById("chat-app");
  if (!app) { return; }
  var md = window.AutoSkillMarkdown;
  var panel = window.AutoSkillPanel;
  var el = panel.el;
  panel.setSkillUrl(app.getAttribute("data-skill-url"));

  var state = {
    sessionId: app.getAttribute("data-session-id") || null,
    chatUrl: app.getAttribute("data-chat-url"),
    loginUrl: app.getAttribute("data-login-url"),
    socket: null,
    retryDelay: 1000,
    retryTimer: null,
    loggedOut: false,
    streaming: false,
    current: null,        // the reply being streamed: {item, body, raw, panel}
    openCreated: false    // "New chat" clicked: open the session when it arrives
  };
  var RETRY_MIN = 1000;
  var RETRY_MAX = 30000;

  var messages = document.getElementById("messages");
  var notices = document.getElementById("notices");
  var sessionList = document.getElementById("session-list");
  var input = document.getElementById("composer-input");
  var form = document.getElementById("composer");
  var sendButton = document.getElementById("send-button");
  var stopButton = document.getElementById("stop-button");
  var regenButton = document.getElementById("regenerate-button");
  var statusLine = document.getElementById("conn-status");
  var titleNode = document.getElementById("conversation-title");
  var exportLink = document.getElementById("export-link");

  // -- markdown -------------------------------------------------------------------
  var rawText = new WeakMap();
  function setMarkdown(body, raw) {
    rawText.set(body, raw);
    body.innerHTML = md.render(raw);  // render() escapes first; see markdown.js
  }
  messages.querySelectorAll("[data-markdown]").forEach(function (body) {
    setMarkdown(body, body.textContent);
  });

  // -- connection -----------------------------------------------------------------
  function setStatus(kind, text) {
    statusLine.className = "conn-status conn-" + kind;
    statusLine.textContent = text;
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + app.getAttribute("data-ws-path"));
    state.socket = socket;
    setStatus("connecting", "Connecting…");
    socket.onopen = function () {
      state.retryDelay = RETRY_MIN;
      setStatus("open", "Connected");
      updateControls();
    };
    socket.onmessage = function (frame) {
      var data;
      try { data = JSON.parse(frame.data); } catch (err) { showError("unreadable server message"); return; }
      handle(data);
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (state.streaming) { finishReply(null, "The connection dropped during the reply."); }
      if (event.code === 4401) {
        state.loggedOut = true;
        setStatus("closed", "Signed out — log in again");
        var link = el("a", "", "Log in");
        link.href = state.loginUrl + "?next=" + encodeURIComponent(location.pathname);
        statusLine.appendChild(document.createTextNode(" "));
        statusLine.appendChild(link);
        updateControls();
        return;
      }
      var seconds = Math.round(state.retryDelay / 1000);
      setStatus("closed", "Disconnected — retrying in " + seconds + " s");
      updateControls();
      state.retryTimer = setTimeout(connect, state.retryDelay);
      state.retryDelay = Math.min(RETRY_MAX, state.retryDelay * 2);
    };
  }

  function send(message) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
      notice("error", "Not connected; the message was not sent.");
      return false;
    }
    // Listeners may add to it: chat_settings.js gives a new chat its chosen settings.
    app.dispatchEvent(new CustomEvent("chat:send", { detail: message }));
    state.socket.send(JSON.stringify(message));
    return true;
  }

  function updateControls() {
    var open = !!state.socket && state.socket.readyState === WebSocket.OPEN;
    sendButton.disabled = !open || state.streaming;
    stopButton.disabled = !open || !state.streaming;
    regenButton.disabled = !open || state.streaming || !state.sessionId || !lastReply();
  }

  // -- notices --------------------------------------------------------------------
  function notice(kind, text, link) { panel.notice(notices, kind, text, link); }

  // -- messages -------------------------------------------------------------------
  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  function addMessage(role, raw, extraClass) {
    var item = el("li", "msg msg-" + role + (extraClass ? " " + extraClass : ""));
    item.setAttribute("data-role", role);
    var meta = item.appendChild(el("div", "msg-meta"));
    meta.appendChild(el("span", "msg-who", role === "user" ? "You" : role === "assistant" ? "Assistant" : "Command"));
    var body = item.appendChild(el("div", "msg-body md"));
    setMarkdown(body, raw);
    messages.appendChild(item);
    scrollDown();
    return { item: item, body: body, meta: meta };
  }

  function addCopy(item) {
    var actions = item.appendChild(el("div", "msg-actions"));
    var button = actions.appendChild(el("button", "icon-button", "Copy"));
    button.type = "button";
    button.setAttribute("data-action", "copy");
  }

  function lastReply() {
    var replies = messages.querySelectorAll('li[data-role="assistant"]');
    return replies.length ? replies[replies.length - 1] : null;
  }

  function startReply(retrieval) {
    var parts = addMessage("assistant", "", "streaming");
    parts.item.setAttribute("aria-busy", "true");
    addCopy(parts.item);
    var details = parts.item.appendChild(panel.buildPanel(retrieval));
    state.current = { item: parts.item, body: parts.body, meta: parts.meta, raw: "", panel: details, pending: false };
    state.streaming = true;
    updateControls();
  }

  // Re-rendering markdown per token is wasteful; once per frame is enough.
  function appendToken(text) {
    var reply = state.current;
    reply.raw += text;
    if (reply.pending) { return; }
    reply.pending = true;
    requestAnimationFrame(function () {
      reply.pending = false;
      setMarkdown(reply.body, reply.raw);
      scrollDown();
    });
  }

  function finishReply(done, errorText) {
    var reply = state.current;
    state.streaming = false;
    state.current = null;
    if (reply) {
      setMarkdown(reply.body, reply.raw);
      reply.item.classList.remove("streaming");
      reply.item.removeAttribute("aria-busy");
      var status = done ? done.status : "error";
      reply.item.classList.add("status-" + status);
      if (done && done.message_id) { reply.item.setAttribute("data-message-id", done.message_id); }
      if (status !== "complete") { reply.meta.appendChild(el("span", "badge badge-" + status, status)); }
      if (errorText) {
        var err = el("p", "msg-error", errorText);
        err.setAttribute("role", "alert");
        reply.item.insertBefore(err, reply.item.querySelector(".msg-actions"));
      }
      if (done) { panel.setExtraction(reply.panel, done.extraction); }
    }
    updateControls();
  }

  // -- sessions -------------------------------------------------------------------
  function sessionUrl(id) { return state.chatUrl + encodeURIComponent(id) + "/"; }

  function sessionItem(session) {
    var li = el("li", "session-item");
    li.setAttribute("data-session-id", session.id);
    var link = li.appendChild(el("a", "session-link", session.title));
    link.href = sessionUrl(session.id);
    var actions = li.appendChild(el("span", "session-actions"));
    [["rename", "Rename"], ["delete", "Delete"]].forEach(function (pair) {
      var b = actions.appendChild(el("button", "icon-button" + (pair[0] === "delete" ? " danger" : ""), pair[1]));
      b.type = "button";
      b.setAttribute("data-action", pair[0]);
      b.setAttribute("aria-label", pair[1] + " " + session.title);
    });
    return li;
  }

  function findSession(id) {
    return sessionList.querySelector('li[data-session-id="' + CSS.escape(String(id)) + '"]');
  }

  function markCurrent(id) {
    sessionList.querySelectorAll(".session-item").forEach(function (li) {
      var on = li.getAttribute("data-session-id") === id;
      li.classList.toggle("is-current", on);
      var link = li.querySelector(".session-link");
      if (on) { link.setAttribute("aria-current", "page"); } else { link.removeAttribute("aria-current"); }
    });
  }

  function upsertSession(session, atTop) {
    var empty = sessionList.querySelector(".session-empty");
    if (empty) { empty.remove(); }
    var existing = findSession(session.id);
    var li = sessionItem(session);
    if (existing) { existing.replaceWith(li); } else if (atTop) { sessionList.prepend(li); } else { sessionList.appendChild(li); }
    if (session.id === state.sessionId) {
      markCurrent(session.id);
      titleNode.textContent = session.title;
    }
  }

  function adoptSession(session) {
    // A chat without a session made one: this page now shows it.
    state.sessionId = session.id;
    history.replaceState(null, "", sessionUrl(session.id));
    exportLink.href = sessionUrl(session.id) + "export.json";
    exportLink.hidden = false;
    upsertSession(session, true);
  }

  sessionList.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) { return; }
    var li = button.closest("li[data-session-id]");
    var id = li.getAttribute("data-session-id");
    var title = li.querySelector(".session-link").textContent;
    if (button.getAttribute("data-action") === "rename") {
      var next = window.prompt("New title for this conversation:", title);
      if (next && next.trim() && next.trim() !== title) {
        send({ type: "session.rename", session_id: id, title: next.trim() });
      }
    } else if (button.getAttribute("data-action") === "delete") {
      if (window.confirm("Delete \u201c" + title + "\u201d and all its messages?")) {
        send({ type: "session.delete", session_id: id });
      }
    }
  });

  document.getElementById("new-session").addEventListener("click", function () {
    state.openCreated = true;
    if (!send({ type: "session.create" })) { state.openCreated = false; }
  });

  // -- server messages ------------------------------------------------------------
  function handle(data) {
    switch (data.type) {
      case "session.created":
        if (state.openCreated) {
          state.openCreated = false;
          location.assign(sessionUrl(data.session.id));
        } else if (!state.sessionId) {
          adoptSession(data.session);
        } else {
          upsertSession(data.session, true);
        }
        break;
      case "session.renamed":
        upsertSession(data.session, false);
        break;
      case "session.deleted":
        var gone = findSession(data.session_id);
        if (gone) { gone.remove(); }
        if (data.session_id === state.sessionId) { location.assign(state.chatUrl); }
        break;
      case "session.list":
        break;
      case "retrieval":
        startReply(data.retrieval);
        break;
      case "token":
        if (state.current) { appendToken(data.text); }
        break;
      case "done":
        finishReply(data, state.current && state.current.errorText);
        var li = findSession(data.session_id);
        if (li && li !== sessionList.firstElementChild) { sessionList.prepend(li); }
        break;
      case "error":
        if (state.current && data.session_id) {
          state.current.errorText = data.message;  // the turn's `done` follows
        } else {
          if (state.streaming && (data.request === "chat" || data.request === "regenerate")) { finishReply(null, data.message); }
          notice("error", data.message);
          updateControls();
        }
        break;
      case "command":
        onCommand(data);
        break;
      case "job.event":
        onJobEvent(data.event);
        break;
      default:
        break;
    }
    // After this page's own handling, so listeners see the adopted session.
    app.dispatchEvent(new CustomEvent("chat:message", { detail: data }));
  }

  function onCommand(data) {
    if (data.cleared) { messages.textContent = ""; }
    var parts = addMessage("command", data.text || "", data.ok ? "" : "status-error");
    if (data.job_id) {
      var details = parts.item.appendChild(panel.buildPanel(data.retrieval || null));
      if (!data.retrieval) { details.querySelector(".turn-retrieval").remove(); }
      panel.setExtraction(details, { job_id: data.job_id, status: "queued" });
      details.open = true;
    }
    updateControls();
  }

  function onJobEvent(event) {
    var upserted = panel.applyJobEvent(messages, event);
    if (event.status === "completed" && upserted.length) {
      upserted.forEach(function (skill) {
        var verb = event.outcome === "add" || event.outcome === "added" ? "Skill proposed" : "Skill updated";
        notice("skill", verb + ":", panel.skillLink(skill));
      });
    } else if (event.status === "failed") {
      notice("error", "A skill extraction job failed" + (event.error ? ": " + event.error : "."));
    }
  }

  // -- composer -------------------------------------------------------------------
  function sendChat(text) {
    if (!text.trim() || state.streaming) { return false; }
    var message = { type: "chat", text: text };
    if (state.sessionId) { message.session_id = state.sessionId; }
    if (!send(message)) { return false; }
    addMessage("user", text);
    return true;
  }
  function submit() { if (sendChat(input.value)) { input.value = ""; } }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  stopButton.addEventListener("click", function () { send({ type: "stop" }); });
  regenButton.addEventListener("click", function () {
    var reply = lastReply();
    if (!reply || !state.sessionId) { return; }
    if (send({ type: "regenerate", session_id: state.sessionId })) { reply.remove(); }
  });

  messages.addEventListener("click", function (event) {
    var button = event.target.closest('button[data-action="copy"]');
    if (!button) { return; }
    var body = button.closest("li").querySelector(".msg-body");
    var text = rawText.get(body) || body.textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }, function () {
      notice("error", "The browser refused clipboard access; select the text to copy it.");
    });
  });

  // For chat_settings.js; it also listens to chat:send and chat:message on #chat-app.
  window.AutoSkillChat = { send: send, sendChat: sendChat, notice: notice,
    sessionId: function () { return state.sessionId; }, busy: function () { return state.streaming; } };
  connect();
  updateControls();
  scrollDown();
})();
