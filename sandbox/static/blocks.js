// Block Kit to accessible DOM: messages (header, section, fields, context, divider, actions, image) and modal
// inputs. Interactive elements call `ctx.act(action)` with Slack's action object, or register with
// `ctx.state` so a modal can be submitted with Slack's `state.values`.
"use strict";

const Blocks = (() => {
  let uid = 0;
  const nextId = (prefix) => `${prefix}-${++uid}`;

  function text(object, ctx) {
    if (!object) return document.createDocumentFragment();
    if (object.type === "mrkdwn") return Mrkdwn.render(object.text, ctx);
    return document.createTextNode(object.text || "");
  }

  function plain(object) { return object ? object.text || "" : ""; }

  function optionsOf(element) {
    if (element.option_groups) return element.option_groups.flatMap((group) => group.options || []);
    return element.options || [];
  }

  function button(element, ctx, blockId) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = "bk-button" + (element.style ? " " + element.style : "");
    node.textContent = plain(element.text);
    if (element.accessibility_label) node.setAttribute("aria-label", element.accessibility_label);
    node.addEventListener("click", async () => {
      if (element.confirm && !(await ctx.confirm(element.confirm))) return;
      ctx.act({ type: "button", action_id: element.action_id, block_id: blockId, value: element.value || "", text: element.text });
    });
    return node;
  }

  function select(element, ctx, blockId, label, options) {
    const node = document.createElement("select");
    node.setAttribute("aria-label", label || plain(element.placeholder) || "Choose");
    const placeholder = document.createElement("option");
    placeholder.value = "";
    placeholder.textContent = plain(element.placeholder) || "Choose…";
    node.append(placeholder);
    for (const option of options) {
      const item = document.createElement("option");
      item.value = option.value;
      item.textContent = option.label;
      node.append(item);
    }
    if (element.initial_option) node.value = element.initial_option.value;
    if (element.initial_user) node.value = element.initial_user;
    return node;
  }

  function interactive(element, ctx, blockId, label) {
    const kind = element.type;
    if (kind === "button") return button(element, ctx, blockId);
    if (kind === "static_select" || kind === "overflow" || kind === "users_select" || kind === "conversations_select" || kind === "channels_select") {
      const options = choices(element, ctx);
      const node = select(element, ctx, blockId, label, options);
      const read = () => selection(element, node.value, options);
      if (ctx.state) ctx.state.register(blockId, element.action_id, read);
      else node.addEventListener("change", () => { if (node.value) ctx.act({ type: kind, action_id: element.action_id, block_id: blockId, ...read() }); });
      return node;
    }
    if (kind === "multi_static_select" || kind === "multi_users_select") {
      const options = choices({ ...element, type: kind === "multi_users_select" ? "users_select" : "static_select" }, ctx);
      const node = select(element, ctx, blockId, label, options);
      node.multiple = true;
      node.remove(0); // no placeholder row in a list box
      const initial = new Set([...(element.initial_options || []).map((o) => o.value), ...(element.initial_users || [])]);
      for (const option of node.options) option.selected = initial.has(option.value);
      const read = () => {
        const values = [...node.selectedOptions].map((o) => o.value);
        if (kind === "multi_users_select") return { type: kind, selected_users: values };
        return { type: kind, selected_options: options.filter((o) => values.includes(o.value)).map((o) => ({ text: o.option.text, value: o.value })) };
      };
      if (ctx.state) ctx.state.register(blockId, element.action_id, read);
      else node.addEventListener("change", () => ctx.act({ action_id: element.action_id, block_id: blockId, ...read() }));
      return node;
    }
    if (kind === "datetimepicker") {
      const node = document.createElement("input");
      node.type = "datetime-local";
      node.setAttribute("aria-label", label || "Date and time");
      if (element.initial_date_time) {
        const at = new Date(element.initial_date_time * 1000);
        node.value = new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
      }
      const read = () => ({ type: kind, selected_date_time: node.value ? Math.floor(new Date(node.value).getTime() / 1000) : null });
      if (ctx.state) ctx.state.register(blockId, element.action_id, read);
      return node;
    }
    if (kind === "datepicker") {
      const node = document.createElement("input");
      node.type = "date";
      node.setAttribute("aria-label", label || plain(element.placeholder) || "Date");
      if (element.initial_date) node.value = element.initial_date;
      const read = () => ({ type: kind, selected_date: node.value || null });
      if (ctx.state) ctx.state.register(blockId, element.action_id, read);
      else node.addEventListener("change", () => ctx.act({ action_id: element.action_id, block_id: blockId, ...read() }));
      return node;
    }
    return document.createTextNode(`[${kind}]`);
  }

  function choices(element, ctx) {
    if (element.type === "users_select") return ctx.people.map((p) => ({ value: p.id, label: p.real_name || p.name }));
    if (element.type === "conversations_select" || element.type === "channels_select") {
      return ctx.conversations.filter((c) => c.kind === "channel").map((c) => ({ value: c.id, label: "#" + c.name }));
    }
    return optionsOf(element).map((o) => ({ value: o.value, label: plain(o.text), option: o }));
  }

  function selection(element, value, options) {
    if (element.type === "users_select") return { type: element.type, selected_user: value || null };
    if (element.type === "conversations_select") return { type: element.type, selected_conversation: value || null };
    if (element.type === "channels_select") return { type: element.type, selected_channel: value || null };
    const chosen = options.find((o) => o.value === value);
    return { type: element.type, selected_option: chosen ? { text: chosen.option.text, value } : null };
  }

  function block(data, ctx) {
    const node = document.createElement("div");
    node.className = "block block-" + data.type;
    const blockId = data.block_id || nextId("block");
    switch (data.type) {
      case "header": {
        const heading = document.createElement("h3");
        heading.className = "block-header";
        heading.textContent = plain(data.text);
        node.append(heading);
        break;
      }
      case "section": {
        if (data.text) { const body = document.createElement("div"); body.append(text(data.text, ctx)); node.append(body); }
        if (data.fields) {
          const fields = document.createElement("div");
          fields.className = "fields";
          for (const field of data.fields) { const cell = document.createElement("div"); cell.append(text(field, ctx)); fields.append(cell); }
          node.append(fields);
        }
        if (data.accessory && data.accessory.type !== "image") {
          // A screen reader hears "Edit: Summary", not seven "Edit"s: name the control after its section's first line.
          const subject = firstLine(data.text);
          const control = interactive(data.accessory, ctx, blockId, subject);
          if (control.tagName === "BUTTON" && subject && !data.accessory.accessibility_label) {
            control.setAttribute("aria-label", `${Blocks.plain(data.accessory.text)}: ${subject}`);
          }
          node.append(control);
        }
        break;
      }
      case "context": {
        node.classList.add("context");
        for (const element of data.elements || []) {
          if (element.type === "image") continue;
          const piece = document.createElement("span");
          piece.append(text(element, ctx), " ");
          node.append(piece);
        }
        break;
      }
      case "divider": node.append(document.createElement("hr")); break;
      case "actions": {
        node.classList.add("actions");
        node.setAttribute("role", "group");
        node.setAttribute("aria-label", "Actions");
        for (const element of data.elements || []) node.append(interactive(element, ctx, blockId, ""));
        break;
      }
      case "image": {
        const image = document.createElement("img");
        image.alt = data.alt_text || "";
        image.src = data.image_url || "";
        image.style.maxWidth = "360px";
        node.append(image);
        break;
      }
      case "input": node.append(input(data, ctx, blockId)); break;
      case "markdown": node.append(Mrkdwn.render(data.text, ctx)); break;
      default: node.append(document.createTextNode(plainOf(data)));
    }
    return node;
  }

  function firstLine(object) {
    if (!object || !object.text) return "";
    const line = Mrkdwn.decode(object.text.split("\n")[0]).replace(/<[^|>]*\|([^>]*)>/g, "$1");
    return line.replace(/[*_~`]/g, "").trim().slice(0, 80);
  }

  function plainOf(data) {
    return JSON.stringify(data).replace(/.*"text":"([^"]*)".*/, "$1");
  }

  function input(data, ctx, blockId) {
    const element = data.element || {};
    const wrapper = document.createElement("div");
    wrapper.className = "input-block";
    const id = nextId("input");
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = plain(data.label);
    if (data.optional) { const optional = document.createElement("span"); optional.className = "optional"; optional.textContent = " (optional)"; label.append(optional); }
    wrapper.append(label);
    let control;
    if (element.type === "plain_text_input" || element.type === "url_text_input" || element.type === "email_text_input" || element.type === "number_input") {
      control = document.createElement(element.multiline ? "textarea" : "input");
      if (!element.multiline) control.type = { url_text_input: "url", email_text_input: "email", number_input: "number" }[element.type] || "text";
      if (element.multiline) control.rows = 4;
      if (element.initial_value !== undefined) control.value = element.initial_value;
      if (element.max_length) control.maxLength = element.max_length;
      if (element.placeholder) control.placeholder = plain(element.placeholder);
      ctx.state.register(blockId, element.action_id, () => ({ type: element.type, value: control.value }));
    } else {
      control = interactive(element, ctx, blockId, plain(data.label));
    }
    control.id = id;
    if (!data.optional && control.tagName !== "BUTTON") control.required = true;
    wrapper.append(control);
    if (data.hint) { const hint = document.createElement("span"); hint.className = "hint"; hint.textContent = plain(data.hint); wrapper.append(hint); }
    const error = ctx.errors && ctx.errors[blockId];
    if (error) {
      const message = document.createElement("span");
      message.className = "field-error";
      message.id = id + "-error";
      message.setAttribute("role", "alert");
      message.textContent = error;
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", message.id);
      wrapper.append(message);
    }
    return wrapper;
  }

  function render(blocks, ctx) {
    const fragment = document.createDocumentFragment();
    for (const data of blocks || []) fragment.append(block(data, ctx));
    return fragment;
  }

  return { render, plain, firstLine };
})();
