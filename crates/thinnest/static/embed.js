/* thinnest chat widget. Add to a page:
 *   <script src="https://YOUR-SERVER/embed.js" data-agent-id="agent_…" async></script>
 * optionally with data-user-id, data-user-name, data-user-email and data-user-hash
 * (the hex HMAC-SHA256 of the user id, computed on your server with the signing
 * secret), or data-user-jwt (HS256 with that secret, a short exp). It adds no globals; its launcher and panel live in a shadow root. */
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

  function post(path, token, body) {
    var headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    return fetch(base + path, { method: "POST", headers: headers, body: JSON.stringify(body) });
  }

  var identity = { agent_id: agentId };
  ["userId", "userName", "userEmail", "userHash", "userJwt"].forEach(function (key) {
    var field = key.replace(/[A-Z]/g, function (c) { return "_" + c.toLowerCase(); });
    if (data[key]) identity[field] = data[key];
  });

  post("/widget/sessions?agent_id=" + encodeURIComponent(agentId), null, identity)
    .then(function (response) {
      if (response.ok) return response.json();
      return response.json().then(
        function (body) { throw new Error(body.error + ": " + body.message); },
        function () { throw new Error("HTTP " + response.status); });
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

  function render(session) {
    var host = element("div", { "data-thinnest-widget": "" });
    var root = host.attachShadow({ mode: "open" });
    var style = element("style");
    style.textContent = STYLE;
    var name = session.agent.name || "Chat";
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
    if (session.agent.first_message) say("assistant", session.agent.first_message);

    function open() {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      input.focus();
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
      post("/widget/messages?agent_id=" + encodeURIComponent(agentId), session.session_token, { message: text })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          say("assistant", body.reply ? body.reply.content : (body.message || "Something went wrong."));
        }, function () { say("assistant", "The message could not be sent; try again."); })
        .then(function () { send.disabled = false; input.focus(); });
    });
  }
})();
