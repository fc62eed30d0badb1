// Slack mrkdwn to DOM nodes: bold, italic, strike, code, code blocks, quotes, links, mentions and dates.
// Text is never parsed as HTML: every piece becomes a text node or an element we build.
"use strict";

const Mrkdwn = (() => {
  const entities = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };
  const decode = (text) => text.replace(/&(amp|lt|gt);/g, (m) => entities[m]);
  const safeUrl = (url) => /^(https?:|mailto:)/i.test(url);

  function special(inner, ctx) {
    const [target, label] = splitLabel(inner);
    if (target.startsWith("@")) {
      const user = ctx.users[target.slice(1)];
      return span("mention", "@" + (user ? user.real_name || user.name : label || target.slice(1)));
    }
    if (target.startsWith("#")) {
      const conversation = ctx.conversations.find((c) => c.id === target.slice(1));
      const name = label || (conversation ? conversation.name : target.slice(1));
      const link = document.createElement("a");
      link.href = "#" + target.slice(1);
      link.className = "mention channel-link";
      link.textContent = "#" + name;
      link.addEventListener("click", (event) => { event.preventDefault(); ctx.openConversation(target.slice(1)); });
      return link;
    }
    if (target.startsWith("!date^")) return span("date", formatDate(target, label));
    if (target.startsWith("!")) {
      const word = target.slice(1).split("^")[0];
      return span("mention", "@" + (label || word));
    }
    const url = decode(target);
    if (!safeUrl(url)) return document.createTextNode(decode(label || target));
    const link = document.createElement("a");
    link.href = url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = decode(label || target);
    return link;
  }

  function splitLabel(inner) {
    const bar = inner.indexOf("|");
    return bar < 0 ? [inner, ""] : [inner.slice(0, bar), inner.slice(bar + 1)];
  }

  function formatDate(target, fallback) {
    const seconds = Number(target.split("^")[1]);
    if (!Number.isFinite(seconds)) return decode(fallback);
    return new Date(seconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function span(className, text) {
    const element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  }

  const INLINE = /(<[^<>\n]+>)|(`[^`\n]+`)|(\*[^*\n]+\*)|(_[^_\n]+_)|(~[^~\n]+~)/;

  function inline(text, ctx, parent) {
    let rest = text;
    while (rest) {
      const match = INLINE.exec(rest);
      if (!match) { parent.append(decode(rest)); return; }
      if (match.index) parent.append(decode(rest.slice(0, match.index)));
      const token = match[0];
      if (match[1]) parent.append(special(token.slice(1, -1), ctx));
      else if (match[2]) { const code = document.createElement("code"); code.textContent = decode(token.slice(1, -1)); parent.append(code); }
      else {
        const tag = match[3] ? "strong" : match[4] ? "em" : "s";
        const element = document.createElement(tag);
        inline(token.slice(1, -1), ctx, element);
        parent.append(element);
      }
      rest = rest.slice(match.index + token.length);
    }
  }

  function render(text, ctx) {
    const fragment = document.createDocumentFragment();
    const parts = String(text || "").split("```");
    parts.forEach((part, index) => {
      if (index % 2 === 1) {
        const pre = document.createElement("pre");
        pre.textContent = decode(part.replace(/^\n/, ""));
        fragment.append(pre);
        return;
      }
      const lines = part.split("\n");
      lines.forEach((line, n) => {
        if (line.startsWith("&gt; ") || line === "&gt;") {
          const quote = document.createElement("blockquote");
          inline(line.slice(5), ctx, quote);
          fragment.append(quote);
          return;
        }
        inline(line, ctx, fragment);
        if (n < lines.length - 1) fragment.append(document.createElement("br"));
      });
    });
    return fragment;
  }

  return { render, decode };
})();
