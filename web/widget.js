/*
 * Imiquimod cream FAQ: website chat widget.
 *
 * Embed with one tag (the bot's origin serves everything):
 *   <script src="https://BOT-ORIGIN/webhooks/widget/widget.js" defer></script>
 *
 * It talks to the bot over socket.io (bot/channels/socketio.py), keeps the
 * conversation's session id in localStorage and, after a reload, shows the
 * conversation again from GET /webhooks/widget/history/<session id>.
 * Every text from the patient or the bot is set with textContent, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.imiquimodWidget) {
    return;
  }
  var BASE = new URL("./", script.src).href; // .../webhooks/widget/
  var SERVER = new URL(script.src).origin;
  var SOCKET_PATH = "/socket.io/";
  var INIT_PAYLOAD = "/greet";
  var SESSION_KEY = "imiquimod-faq-widget:session";
  var OPEN_KEY = "imiquimod-faq-widget:open";
  var SOURCE_LINE = /^\((Source: .*)\)$/;

  var memoryStore = {};
  function storeGet(storage, key) {
    try {
      return window[storage].getItem(key);
    } catch (e) {
      return memoryStore[storage + key] || null;
    }
  }
  function storeSet(storage, key, value) {
    try {
      if (value === null) {
        window[storage].removeItem(key);
      } else {
        window[storage].setItem(key, value);
      }
    } catch (e) {
      memoryStore[storage + key] = value;
    }
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  var io = null; // our own socket.io client, whatever the host page has as window.io

  function loadAssets(done) {
    var css = el("link", { rel: "stylesheet", href: BASE + "widget.css" });
    document.head.appendChild(css);
    var hadIo = Object.prototype.hasOwnProperty.call(window, "io");
    var pageIo = window.io;
    var vendor = el("script", { src: BASE + "vendor/socket.io.min.js" });
    vendor.onload = function () {
      io = window.io;
      if (hadIo) {
        window.io = pageIo;
      } else {
        delete window.io;
      }
      done();
    };
    vendor.onerror = function () {
      ui.status.textContent = "The chat could not load. Please try again later.";
    };
    document.head.appendChild(vendor);
  }

  // ---- the interface -----------------------------------------------------

  function buildUi() {
    var root = el("div", { class: "imq-widget" });
    var launcher = el(
      "button",
      { type: "button", class: "imq-launcher", "aria-expanded": "false", "aria-controls": "imq-panel" },
      "Questions about imiquimod cream?"
    );
    var panel = el("section", { id: "imq-panel", class: "imq-panel", "aria-labelledby": "imq-title" });
    panel.hidden = true;

    var header = el("div", { class: "imq-header" });
    var title = el("h2", { id: "imq-title", class: "imq-title" }, "Imiquimod cream questions");
    var restart = el("button", { type: "button", class: "imq-restart" }, "Start over");
    var close = el("button", { type: "button", class: "imq-close", "aria-label": "Close chat" }, "\u00d7");
    header.appendChild(title);
    header.appendChild(restart);
    header.appendChild(close);

    var disclaimer = el(
      "p",
      { id: "imq-disclaimer", class: "imq-disclaimer" },
      "Automated answers from the imiquimod patient leaflet. General information only, not a substitute " +
        "for your prescriber's advice. In an emergency, call your local emergency number."
    );
    var log = el("div", {
      class: "imq-log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Conversation",
      tabindex: "0",
    });
    var status = el("p", { class: "imq-status", role: "status" });

    var form = el("form", { class: "imq-form", novalidate: "" });
    var label = el("label", { for: "imq-input", class: "imq-visually-hidden" }, "Your question");
    var input = el("input", {
      id: "imq-input",
      class: "imq-input",
      type: "text",
      autocomplete: "off",
      placeholder: "Type your question",
      "aria-describedby": "imq-disclaimer",
    });
    var send = el("button", { type: "submit", class: "imq-send" }, "Send");
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(disclaimer);
    panel.appendChild(log);
    panel.appendChild(status);
    panel.appendChild(form);
    root.appendChild(launcher);
    root.appendChild(panel);
    document.body.appendChild(root);
    return {
      root: root,
      launcher: launcher,
      panel: panel,
      restart: restart,
      close: close,
      log: log,
      status: status,
      form: form,
      input: input,
    };
  }

  var ui = buildUi();

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function removeQuickReplies() {
    var groups = ui.log.querySelectorAll(".imq-quick");
    for (var i = 0; i < groups.length; i++) {
      groups[i].parentNode.removeChild(groups[i]);
    }
  }

  function addUserMessage(text) {
    var item = el("div", { class: "imq-msg imq-msg--user" });
    item.appendChild(el("span", { class: "imq-visually-hidden" }, "You said: "));
    item.appendChild(el("p", { class: "imq-text" }, text));
    ui.log.appendChild(item);
    scrollToEnd();
  }

  /**
   * Show one bot message.
   * @param {{text: string, escalation?: boolean, quick_replies?: Array}} message
   * @param {boolean} live Whether it just arrived (an escalation is then announced as an alert).
   * @param {boolean} withQuickReplies Whether to show its quick replies.
   */
  function addBotMessage(message, live, withQuickReplies) {
    var text = typeof message.text === "string" ? message.text : "";
    var item = el("div", { class: "imq-msg imq-msg--bot" });
    if (message.escalation) {
      item.className += " imq-msg--escalation";
      if (live) {
        item.setAttribute("role", "alert");
      }
      item.appendChild(el("strong", { class: "imq-badge" }, "Important"));
      item.appendChild(el("span", { class: "imq-visually-hidden" }, ": "));
    } else {
      item.appendChild(el("span", { class: "imq-visually-hidden" }, "Assistant: "));
    }
    var lines = text.split("\n");
    var source = SOURCE_LINE.exec(lines[lines.length - 1].trim());
    if (source && lines.length > 1) {
      lines.pop();
    }
    if (!source || lines.length > 0) {
      item.appendChild(el("p", { class: "imq-text" }, source ? lines.join("\n") : text));
    }
    if (source) {
      item.appendChild(el("p", { class: "imq-source" }, source[1]));
    }
    ui.log.appendChild(item);
    if (withQuickReplies && Array.isArray(message.quick_replies) && message.quick_replies.length) {
      ui.log.appendChild(quickReplies(message.quick_replies));
    }
    scrollToEnd();
  }

  function quickReplies(replies) {
    var group = el("div", { class: "imq-quick", role: "group", "aria-label": "Suggested questions" });
    replies.forEach(function (reply) {
      var title = String(reply.title || reply.payload || "");
      var payload = String(reply.payload || reply.title || "");
      var button = el("button", { type: "button", class: "imq-reply" }, title);
      button.addEventListener("click", function () {
        sendMessage(payload, payload.charAt(0) === "/" ? title : payload);
        ui.input.focus();
      });
      group.appendChild(button);
    });
    return group;
  }

  // ---- the conversation --------------------------------------------------

  var socket = null;
  var sessionId = null;
  var historyShown = false;
  var pending = [];

  function emitMessage(text) {
    socket.emit("user_uttered", { message: text, session_id: sessionId });
  }

  /**
   * Send a message (shown as `shown`, or not at all when `shown` is null).
   */
  function sendMessage(text, shown) {
    if (!text.trim()) {
      return;
    }
    removeQuickReplies();
    if (shown !== null) {
      addUserMessage(shown);
    }
    if (sessionId && socket && socket.connected) {
      ui.status.textContent = "";
      emitMessage(text);
    } else {
      pending.push(text);
      ui.status.textContent = "Connecting\u2026 your message will be sent in a moment.";
    }
  }

  function flushPending() {
    while (pending.length) {
      emitMessage(pending.shift());
    }
  }

  function showHistory(messages) {
    var lastUser = -1;
    messages.forEach(function (m, i) {
      if (m.sender === "user") {
        lastUser = i;
      }
    });
    messages.forEach(function (m, i) {
      if (m.sender === "user") {
        addUserMessage(String(m.text || ""));
      } else {
        addBotMessage(m, false, i > lastUser);
      }
    });
  }

  function fetchHistory(id) {
    return fetch(BASE + "history/" + encodeURIComponent(id), { credentials: "omit", cache: "no-store" })
      .then(function (r) {
        return r.ok ? r.json() : { messages: [] };
      })
      .then(function (body) {
        return Array.isArray(body.messages) ? body.messages : [];
      })
      .catch(function () {
        return [];
      });
  }

  function onSessionConfirm(id) {
    var stored = storeGet("localStorage", SESSION_KEY);
    sessionId = id;
    storeSet("localStorage", SESSION_KEY, id);
    ui.status.textContent = "";
    if (historyShown) {
      flushPending();
      return;
    }
    historyShown = true;
    var history = stored === id ? fetchHistory(id) : Promise.resolve([]);
    history.then(function (messages) {
      if (messages.length) {
        showHistory(messages);
      } else if (!pending.length) {
        emitMessage(INIT_PAYLOAD);
      }
      flushPending();
    });
  }

  function connect() {
    if (socket) {
      return;
    }
    ui.status.textContent = "Connecting\u2026";
    socket = io(SERVER, { path: SOCKET_PATH, withCredentials: false });
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: sessionId || storeGet("localStorage", SESSION_KEY) });
    });
    socket.on("session_confirm", onSessionConfirm);
    socket.on("bot_uttered", function (message) {
      if (message && typeof message === "object") {
        addBotMessage(message, true, true);
      }
    });
    socket.on("disconnect", function () {
      ui.status.textContent = "Connection lost. Reconnecting\u2026";
    });
    socket.on("connect_error", function () {
      ui.status.textContent = "Cannot reach the assistant. Retrying\u2026";
    });
  }

  function startOver() {
    storeSet("localStorage", SESSION_KEY, null);
    sessionId = null;
    historyShown = false;
    pending = [];
    while (ui.log.firstChild) {
      ui.log.removeChild(ui.log.firstChild);
    }
    if (socket && socket.connected) {
      socket.emit("session_request", { session_id: null });
    }
    ui.input.focus();
  }

  // ---- opening and closing -----------------------------------------------

  function open(moveFocus) {
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.root.className = "imq-widget imq-widget--open";
    storeSet("sessionStorage", OPEN_KEY, "1");
    if (moveFocus) {
      ui.input.focus();
    }
    if (io) {
      connect();
    }
    scrollToEnd();
  }

  function close() {
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.root.className = "imq-widget";
    storeSet("sessionStorage", OPEN_KEY, null);
    ui.launcher.focus();
  }

  ui.launcher.addEventListener("click", function () {
    if (ui.panel.hidden) {
      open(true);
    } else {
      close();
    }
  });
  ui.close.addEventListener("click", close);
  ui.restart.addEventListener("click", startOver);
  ui.panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    }
  });
  ui.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = ui.input.value;
    if (!text.trim()) {
      ui.status.textContent = "Please type your question first.";
      return;
    }
    ui.input.value = "";
    sendMessage(text, text);
  });

  loadAssets(function () {
    if (!ui.panel.hidden) {
      connect();
    }
  });
  if (storeGet("sessionStorage", OPEN_KEY) === "1") {
    open(false);
  }

  window.imiquimodWidget = { open: open, close: close };
})();
