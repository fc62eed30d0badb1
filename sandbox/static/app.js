// The sandbox page: one person's view of the emulated workspace, kept live by server-sent events.
"use strict";

const App = (() => {
  const params = new URLSearchParams(location.search);
  let state = null;
  let me = params.get("as") || "";
  let current = params.get("channel") || "";
  const seen = {}; // user -> conversation -> number of messages read
  let shownView = "";

  const $ = (id) => document.getElementById(id);

  async function post(action, body) {
    const response = await fetch(`do/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: me, ...body }),
    });
    if (!response.ok) throw new Error(await response.text());
    return response.json();
  }

  async function refresh() {
    const response = await fetch(`state?user=${encodeURIComponent(me)}`);
    if (!response.ok) return;
    state = await response.json();
    me = state.me;
    if (!state.conversations.some((c) => c.id === current)) {
      const general = state.conversations.find((c) => c.name === "general") || state.conversations[0];
      current = general ? general.id : "";
    }
    render();
  }

  function context() {
    return {
      users: state.users,
      people: state.people,
      conversations: state.conversations,
      openConversation: (id) => { current = id; render(); },
      confirm: confirmDialog,
    };
  }

  function render() {
    document.title = `${state.title}`;
    $("title").textContent = state.title;
    renderPeople();
    renderWebhooks();
    renderPlays();
    renderSidebar();
    renderChannel();
    renderModal();
  }

  function renderPeople() {
    const select = $("person");
    if (select.options.length !== state.people.length) {
      select.replaceChildren(...state.people.map((p) => new Option(`${p.real_name} (@${p.name})`, p.id)));
    }
    select.value = me;
  }

  function renderWebhooks() {
    const holder = $("webhooks");
    if (holder.childElementCount === state.webhooks.length) return;
    holder.replaceChildren(...state.webhooks.map((hook) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = hook.label;
      button.addEventListener("click", async () => {
        const result = await post("webhook", { name: hook.name });
        $("tool-status").textContent = `${hook.label}: HTTP ${result.status}`;
      });
      return button;
    }));
  }

  function renderPlays() {
    const holder = $("plays");
    if (holder.childElementCount === state.plays.length) return;
    holder.replaceChildren(...state.plays.map((play) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = play.label;
      button.addEventListener("click", async () => {
        const result = await post("play", { name: play.name });
        $("tool-status").textContent = `Drill started: ${result.started}`;
        $("hint-title").textContent = `Drill: ${result.started}`;
        $("hint-text").textContent = result.hint;
        $("hint").hidden = false;
      });
      return button;
    }));
  }

  function renderSidebar() {
    const mine = seen[me] || (seen[me] = {});
    const item = (conversation) => {
      const count = (state.messages[conversation.id] || []).length;
      if (conversation.id === current) mine[conversation.id] = count;
      const unread = count - (mine[conversation.id] ?? count);
      if (mine[conversation.id] === undefined) mine[conversation.id] = count;
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const name = conversation.kind === "dm" ? "firebreak (app)" : "#" + conversation.name;
      button.append(name);
      button.setAttribute("aria-label", unread > 0 ? `${name}, ${unread} unread` : name);
      if (unread > 0) {
        button.classList.add("unread");
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.setAttribute("aria-hidden", "true");
        badge.textContent = String(unread);
        button.append(badge);
      }
      if (conversation.id === current) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => { current = conversation.id; render(); $("composer-text").focus(); });
      li.append(button);
      return li;
    };
    $("channels").replaceChildren(...state.conversations.filter((c) => c.kind === "channel").map(item));
    $("dms").replaceChildren(...state.conversations.filter((c) => c.kind === "dm").map(item));
  }

  function renderChannel() {
    const conversation = state.conversations.find((c) => c.id === current);
    if (!conversation) return;
    const name = conversation.kind === "dm" ? "firebreak (app)" : "#" + conversation.name;
    $("channel-name").textContent = name;
    $("channel-topic").textContent = conversation.topic || "";
    $("composer").setAttribute("aria-label", `Message ${name}`);
    $("composer-text").setAttribute("placeholder", `Message ${name}, or a slash command such as /incident help`);
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = (state.messages[current] || []).map((m) => ({ message: m, ephemeral: false }));
    items.push(...state.ephemerals.filter((e) => e.channel === current).map((m) => ({ message: m, ephemeral: true })));
    items.sort((a, b) => Number(a.message.ts) - Number(b.message.ts));
    list.replaceChildren(...items.map(({ message, ephemeral }) => renderMessage(message, ephemeral, conversation)));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function author(message) {
    if (message.bot_id || message.user === state.bot) return "firebreak";
    const user = state.users[message.user];
    return user ? user.real_name : message.user || "someone";
  }

  function renderMessage(message, ephemeral, conversation) {
    const article = document.createElement("article");
    article.className = "message" + (ephemeral ? " ephemeral" : "");
    const pinned = conversation.pins.includes(message.ts);
    if (pinned) article.classList.add("pinned");
    const when = new Date(Number(message.ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    article.setAttribute("aria-label", `Message from ${author(message)} at ${when}${ephemeral ? ", only visible to you" : ""}`);
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("strong");
    who.textContent = author(message);
    meta.append(who, when, ephemeral ? " · Only visible to you" : "", pinned ? " · 📌 Pinned" : "");
    article.append(meta);
    const ctx = { ...context(), act: (action) => post("click", { channel: current, ts: message.ts, action }) };
    const body = document.createElement("div");
    if (message.blocks && message.blocks.length) body.append(Blocks.render(message.blocks, ctx));
    else body.append(Mrkdwn.render(message.text, ctx));
    article.append(body);
    if (message.reactions && message.reactions.length) {
      const reactions = document.createElement("div");
      reactions.className = "reactions";
      for (const r of message.reactions) {
        const item = document.createElement("span");
        item.className = "reaction";
        item.textContent = `:${r.name}: ${r.count}`;
        item.setAttribute("aria-label", `${r.name} reaction, ${r.count}`);
        reactions.append(item);
      }
      article.append(reactions);
    }
    if (!ephemeral) article.append(messageTools(message, conversation));
    return article;
  }

  function messageTools(message, conversation) {
    const tools = document.createElement("div");
    tools.className = "message-tools";
    tools.setAttribute("role", "group");
    tools.setAttribute("aria-label", "Message actions");
    const tool = (label, run) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.addEventListener("click", run);
      tools.append(button);
    };
    tool("React 📌", () => post("react", { channel: current, ts: message.ts, name: "pushpin" }));
    tool("React 📝", () => post("react", { channel: current, ts: message.ts, name: "memo" }));
    if (conversation.kind === "channel" && !conversation.pins.includes(message.ts)) {
      tool("Pin", () => post("pin", { channel: current, ts: message.ts }));
    }
    for (const shortcut of state.shortcuts) {
      tool(shortcut.name, () => post("shortcut", { channel: current, ts: message.ts, callback_id: shortcut.callback_id }));
    }
    return tools;
  }

  function renderModal() {
    const root = $("modal-root");
    const view = state.view;
    const key = view ? `${view.id}:${view.hash}:${JSON.stringify(view.errors || {})}` : "";
    if (key === shownView) return;
    shownView = key;
    root.replaceChildren();
    if (!view) return;
    const values = {};
    const readValues = () => {
      const stateValues = {};
      for (const [block, actions] of Object.entries(values)) {
        stateValues[block] = Object.fromEntries(Object.entries(actions).map(([action, read]) => [action, read()]));
      }
      return stateValues;
    };
    const overlay = document.createElement("div");
    overlay.className = "overlay";
    const dialog = document.createElement("form");
    dialog.className = "dialog";
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-labelledby", "modal-title");
    const title = document.createElement("h2");
    title.id = "modal-title";
    title.textContent = Blocks.plain(view.title);
    const body = document.createElement("div");
    body.className = "dialog-body";
    const ctx = {
      ...context(),
      errors: view.errors || {},
      state: { register: (block, action, read) => { (values[block] ||= {})[action] = read; } },
      act: (action) => post("click_in_view", { view_id: view.id, action, values: readValues() }),
    };
    body.append(Blocks.render(view.blocks, ctx));
    const footer = document.createElement("div");
    footer.className = "dialog-footer";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "bk-button";
    close.textContent = Blocks.plain(view.close) || "Cancel";
    close.addEventListener("click", () => post("close", { view_id: view.id }));
    footer.append(close);
    if (view.submit) {
      const submit = document.createElement("button");
      submit.type = "submit";
      submit.className = "bk-button primary";
      submit.textContent = Blocks.plain(view.submit);
      footer.append(submit);
    }
    dialog.addEventListener("submit", (event) => {
      event.preventDefault();
      post("submit", { view_id: view.id, values: readValues() });
    });
    dialog.addEventListener("keydown", (event) => { if (event.key === "Escape") close.click(); });
    dialog.append(title, body, footer);
    overlay.append(dialog);
    root.append(overlay);
    const first = dialog.querySelector("input, textarea, select, button");
    if (first) first.focus();
  }

  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const overlay = document.createElement("div");
      overlay.className = "overlay";
      const dialog = document.createElement("div");
      dialog.className = "dialog";
      dialog.setAttribute("role", "alertdialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-labelledby", "confirm-title");
      const title = document.createElement("h2");
      title.id = "confirm-title";
      title.textContent = Blocks.plain(confirm.title) || "Are you sure?";
      const body = document.createElement("div");
      body.className = "dialog-body";
      body.textContent = Blocks.plain(confirm.text);
      const footer = document.createElement("div");
      footer.className = "dialog-footer";
      const done = (answer) => { overlay.remove(); resolve(answer); };
      const deny = document.createElement("button");
      deny.className = "bk-button";
      deny.textContent = Blocks.plain(confirm.deny) || "Cancel";
      deny.addEventListener("click", () => done(false));
      const yes = document.createElement("button");
      yes.className = "bk-button " + (confirm.style || "primary");
      yes.textContent = Blocks.plain(confirm.confirm) || "Yes";
      yes.addEventListener("click", () => done(true));
      footer.append(deny, yes);
      dialog.append(title, body, footer);
      overlay.append(dialog);
      document.body.append(overlay);
      yes.focus();
    });
  }

  function start() {
    $("person").addEventListener("change", (event) => { me = event.target.value; shownView = ""; refresh(); });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = $("composer-text");
      const typed = box.value.trim();
      if (!typed) return;
      box.value = "";
      await post(typed.startsWith("/") ? "command" : "message", { channel: current, text: typed });
    });
    $("composer-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
    });
    $("hint-close").addEventListener("click", () => { $("hint").hidden = true; });
    const events = new EventSource("stream");
    events.addEventListener("changed", refresh);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
  return { refresh };
})();
