/* thinnest chat widget. Add to a page:
 *   <script src="https://YOUR-SERVER/embed.js" data-agent-id="agent_…" async></script>
 * optionally with data-user-id, data-user-name, data-user-email and data-user-hash
 * (the hex HMAC-SHA256 of the user id, computed on your server with the signing
 * secret string), or data-user-jwt (HS256 keyed by the base64-decoded part of that
 * secret after whsec_, a short exp). It adds no globals; its launcher and panel live
 * in a shadow root. On load it only checks that it may run here; the session starts
 * when the chat is first opened, and its conversation with the first message. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var base = new URL(script.src).origin;
  var data = script.dataset;
  var agentId = data.agentId || "";

  function warn(text) {
    console.warn("thinnest widget: " + text);
  }

  if (!agentId) {
    warn("data-agent-id is missing; nothing is shown.");
    return;
  }

  var query = "?agent_id=" + encodeURIComponent(agentId);
  var identity = { agent_id: agentId };
  ["userId", "userName", "userEmail", "userHash", "userJwt"].forEach(function (key) {
    var field = key.replace(/[A-Z]/g, function (c) { return "_" + c.toLowerCase(); });
    if (data[key]) identity[field] = data[key];
  });

  // Resolves to {ok, status, body}; rejects when the server could not be reached or
  // the browser may not read its answer (CORS).
  function call(method, path, token, body) {
    var headers = {};
    if (body) headers["content-type"] = "application/json";
    if (token) headers.authorization = "Bearer " + token;
    var init = { method: method, headers: headers };
    if (body) init.body = JSON.stringify(body);
    return fetch(base + path + query, init).then(function (response) {
      function answer(body) { return { ok: response.ok, status: response.status, body: body || {} }; }
      return response.json().then(answer, function () { return answer({}); });
    });
  }

  function problem(answer) {
    return answer.body.error ? answer.body.error + ": " + answer.body.message : "HTTP " + answer.status;
  }

  // The session token lives in this tab's sessionStorage, per agent and visitor, so the
  // conversation follows the visitor from page to page.
  var storageKey = "thinnest-widget:" + agentId + ":" + (identity.user_id || "");
  function stored() {
    try { return window.sessionStorage.getItem(storageKey); } catch (e) { return null; }
  }
  function keep(token) {
    try {
      if (token) window.sessionStorage.setItem(storageKey, token);
      else window.sessionStorage.removeItem(storageKey);
    } catch (e) { /* storage unavailable: the session lasts as long as the page */ }
  }

  var token = stored();
  var starting = null;
  // A new session; concurrent callers share one request.
  function startSession() {
    if (!starting) {
      starting = call("POST", "/widget/sessions", null, identity).then(function (answer) {
        starting = null;
        if (!answer.ok) throw new Error(problem(answer));
        token = answer.body.session_token;
        keep(token);
        return token;
      }, function (error) { starting = null; throw error; });
    }
    return starting;
  }

  // A request with the session, started first if there is none; when the server says
  // the session is over (expired, or no longer good enough), once more with a new one.
  function withSession(method, path, body) {
    function attempt() { return call(method, path, token, body); }
    return (token ? attempt() : startSession().then(attempt)).then(function (answer) {
      if (answer.status !== 401 || answer.body.error !== "invalid_session") return answer;
      token = null;
      keep(null);
      return startSession().then(attempt);
    });
  }

  // Ask whether the widget may run here, for this visitor, before showing anything; the
  // session itself starts when the visitor opens the chat.
  call("POST", "/widget/check", null, identity)
    .then(function (answer) {
      if (!answer.ok) throw new Error(problem(answer));
      return answer.body;
    })
    .then(render, function (error) {
      warn("not available on this page (" + (error && error.message ? error.message : "refused") + ").");
    });

  var STYLE =
    ":host{all:initial}" +
    "*{box-sizing:border-box;font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}" +
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;" +
    "padding:14px 20px;background:#3856d6;color:#fff;cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    ".launcher:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}" +
    ".panel{position:fixed;right:20px;bottom:84px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);" +
    "height:440px;max-height:calc(100vh - 120px);display:flex;flex-direction:column;background:#fff;color:#1d2330;" +
    "border:1px solid #dde1ea;border-radius:12px;box-shadow:0 8px 32px rgba(0,0,0,.2)}" +
    ".panel[hidden]{display:none}" +
    "header{display:flex;justify-content:space-between;align-items:center;padding:10px 14px;border-bottom:1px solid #dde1ea}" +
    "header h2{margin:0;font-weight:600}" +
    ".close{border:0;background:none;font-size:20px;cursor:pointer;color:#5b6477}" +
    "ol{list-style:none;margin:0;padding:12px;overflow-y:auto;flex:1}" +
    "li{margin:6px 0;padding:8px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    "li.user{background:#3856d6;color:#fff;margin-left:auto}" +
    "li.assistant{background:#f0f2f7}" +
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #dde1ea}" +
    "input{flex:1;padding:8px 10px;border:1px solid #dde1ea;border-radius:8px}" +
    "form button{border:0;border-radius:8px;padding:8px 12px;background:#3856d6;color:#fff;cursor:pointer}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) node.textContent = text;
    return node;
  }

  function render(welcome) {
    var host = element("div", { "data-thinnest-widget": "" });
    var root = host.attachShadow({ mode: "open" });
    var style = element("style");
    style.textContent = STYLE;
    var name = welcome.agent.name || "Chat";
    var launcher = element("button", { class: "launcher", type: "button", "aria-haspopup": "dialog",
      "aria-expanded": "false", "aria-label": "Open chat with " + name }, "Chat");
    var panel = element("section", { class: "panel", role: "dialog", "aria-label": "Chat with " + name, hidden: "" });
    var header = element("header");
    header.appendChild(element("h2", {}, name));
    var close = element("button", { class: "close", type: "button", "aria-label": "Close chat" }, "\u00d7");
    header.appendChild(close);
    var list = element("ol", { "aria-live": "polite", "aria-label": "Messages" });
    var form = element("form");
    var label = element("label", { class: "sr", for: "thinnest-message" }, "Message");
    var input = element("input", { id: "thinnest-message", type: "text", autocomplete: "off",
      maxlength: "4000", placeholder: "Type a message" });
    var send = element("button", { type: "submit" }, "Send");
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(send);
    panel.appendChild(header);
    panel.appendChild(list);
    panel.appendChild(form);
    root.appendChild(style);
    root.appendChild(launcher);
    root.appendChild(panel);
    document.body.appendChild(host);

    function say(role, text) {
      list.appendChild(element("li", { class: role }, text));
      list.scrollTop = list.scrollHeight;
    }
    if (welcome.agent.first_message) say("assistant", welcome.agent.first_message);
    function failed(answer) {
      say("assistant", answer.body.message || "Something went wrong (" + problem(answer) + ").");
    }
    function unreachable(error) {
      say("assistant", "The chat is not available right now; try again." +
        (error && error.message ? " (" + error.message + ")" : ""));
    }

    // On first opening: the stored session's conversation so far, or a new session.
    var opened = false;
    function begin() {
      if (opened) return;
      opened = true;
      // A message sent meanwhile shares the session being started.
      var ready = token ? withSession("GET", "/widget/messages") : startSession().then(function () { return null; });
      ready.then(function (answer) {
        if (!answer) return;
        if (!answer.ok) return failed(answer);
        (answer.body.data || []).forEach(function (message) { say(message.role, message.content); });
      }, function (error) {
        opened = false;
        unreachable(error);
      });
    }

    function open() {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      input.focus();
      begin();
    }
    function shut() {
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
    }
    launcher.addEventListener("click", function () { panel.hidden ? open() : shut(); });
    close.addEventListener("click", shut);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") shut();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      say("user", text);
      send.disabled = true;
      withSession("POST", "/widget/messages", { message: text })
        .then(function (answer) {
          if (answer.ok) say("assistant", answer.body.reply.content);
          else failed(answer);
        }, function () { say("assistant", "The message could not be sent; try again."); })
        .then(function () { send.disabled = false; input.focus(); });
    });
  }
})();
