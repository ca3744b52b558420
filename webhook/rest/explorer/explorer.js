// The AppImage API explorer: renders /openapi.json and sends requests to this server.
// Plain DOM, no dependencies (the page must work without internet). Text from the
// document and from answers is only ever set as textContent, never parsed as HTML.
"use strict";

const state = { doc: null, ops: [], current: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

// `code` spans and "* " bullet lists: all the markup the document's texts use.
function inline(text) {
  const span = el("span");
  text.split(/(`[^`]*`)/).forEach((part) => {
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
      span.append(el("code", {}, part.slice(1, -1)));
    } else {
      span.append(part.replace(/\*\*/g, ""));
    }
  });
  return span;
}

function prose(text) {
  const box = el("div");
  for (const block of (text || "").split(/\n\s*\n/)) {
    const lines = block.split("\n");
    if (lines.every((line) => line.startsWith("* "))) {
      box.append(el("ul", {}, ...lines.map((line) => el("li", {}, inline(line.slice(2))))));
    } else if (block.trim()) {
      box.append(el("p", {}, inline(lines.join(" "))));
    }
  }
  return box;
}

function resolve(schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 32) {
    const name = schema.$ref.split("/").pop();
    schema = state.doc.components.schemas[name];
  }
  return schema || {};
}

function typeOf(schema) {
  const types = [].concat(schema.type || []).filter((t) => t !== "null");
  return types.join(" | ") || (schema.oneOf ? "one of" : "any");
}

// The request's fields as a tree, nested messages folded.
function fields(schema, depth) {
  schema = resolve(schema);
  const box = el("div");
  if (depth > 12) return box;
  const required = new Set(schema.required || []);
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const prop = resolve(raw);
    const item = prop.type === "array" || [].concat(prop.type).includes("array")
      ? resolve(prop.items) : null;
    const row = el("div", { class: "field" },
      el("span", { class: "name" }, name),
      el("span", { class: "type" }, item ? `list of ${typeOf(item)}` : typeOf(prop)),
      required.has(name) ? el("span", { class: "req" }, "required") : null,
      prop.enum ? el("span", { class: "doc" }, `one of ${prop.enum.map((v) => JSON.stringify(v)).join(", ")}`) : null,
      prop.description || raw.description ? el("span", { class: "doc" }, prop.description || raw.description) : null);
    const nested = item && item.properties ? item : (prop.properties ? prop : null);
    if (nested) {
      const more = el("details", {}, el("summary", {}, "fields"), fields(nested, depth + 1));
      row.append(more);
    }
    box.append(row);
  }
  return box;
}

function codeTable(target) {
  const status = resolve(state.doc.components.schemas.Status);
  target.replaceChildren(el("tr", {}, el("th", {}, "code"), el("th", {}, "name"), el("th", {}, "meaning")));
  for (const c of status.properties.code.oneOf) {
    target.append(el("tr", {}, el("td", {}, String(c.const)), el("td", {}, c.title), el("td", {}, c.description)));
  }
}

function codeMeaning(code) {
  const status = resolve(state.doc.components.schemas.Status);
  const found = status.properties.code.oneOf.find((c) => c.const === code);
  return found ? `${found.title}: ${found.description}` : "unknown code";
}

function select(opId) {
  const op = state.ops.find((o) => o.id === opId) || state.ops[0];
  state.current = op;
  for (const button of document.querySelectorAll("nav button")) {
    button.setAttribute("aria-current", String(button.dataset.op === op.id));
  }
  document.getElementById("intro").hidden = true;
  document.getElementById("operation").hidden = false;
  document.getElementById("op-path").textContent = op.path;
  document.getElementById("op-summary").textContent = op.spec.summary || "";
  const grpc = op.spec["x-grpc"];
  document.getElementById("op-grpc").textContent = grpc
    ? `Also over gRPC as ${grpc.service}/${grpc.method} (${grpc.request} → ${grpc.response}), `
      + "and here with application/x-protobuf bodies of those messages."
    : "";
  document.getElementById("op-description").replaceChildren(prose(op.spec.description));
  const media = ((op.spec.requestBody || {}).content || {})["application/json"] || {};
  const examples = media.examples || {};
  const picker = document.getElementById("example");
  picker.replaceChildren(...Object.entries(examples).map(([key, ex]) =>
    el("option", { value: key }, ex.summary || key)));
  picker.append(el("option", { value: "" }, "empty body {}"));
  const first = Object.values(examples)[0];
  document.getElementById("body").value = JSON.stringify(first ? first.value : {}, null, 2);
  document.getElementById("schema").replaceChildren(fields(media.schema || {}, 0));
  const responses = document.getElementById("responses");
  responses.replaceChildren(el("tr", {}, el("th", {}, "HTTP"), el("th", {}, "when")));
  for (const [status, answer] of Object.entries(op.spec.responses || {})) {
    responses.append(el("tr", {}, el("td", {}, status), el("td", {}, answer.description || "")));
  }
  document.getElementById("response").replaceChildren();
  if (location.hash !== `#${op.id}`) history.replaceState(null, "", `#${op.id}`);
}

function pickExample() {
  const media = state.current.spec.requestBody.content["application/json"];
  const chosen = (media.examples || {})[document.getElementById("example").value];
  document.getElementById("body").value = JSON.stringify(chosen ? chosen.value : {}, null, 2);
}

async function send() {
  const op = state.current;
  const out = document.getElementById("response");
  out.removeAttribute("data-http");
  out.removeAttribute("data-code");
  out.replaceChildren(el("p", {}, "Sending…"));
  const headers = { "Content-Type": "application/json" };
  const token = document.getElementById("token").value;
  if (token) headers.Token = token;
  let response;
  try {
    response = await fetch(op.path, { method: "POST", headers, body: document.getElementById("body").value });
  } catch (error) {
    out.dataset.http = "error";
    out.replaceChildren(el("p", { class: "line bad" }, `No answer: ${error}`));
    return;
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch (_) { /* not JSON: shown as it is */ }
  const code = parsed && parsed.status ? parsed.status.code : null;
  const good = response.status === 200 && code === 0;
  const line = `HTTP ${response.status}` + (code === null ? "" : ` · code ${code} (${codeMeaning(code)})`);
  const children = [el("p", { class: `line ${good ? "ok" : "bad"}` }, line)];
  const warnings = response.headers.get("Warning");
  if (warnings) children.push(el("p", { class: "warning" }, `Warning: ${warnings}`));
  children.push(el("pre", { id: "answer" }, parsed ? JSON.stringify(parsed, null, 2) : text));
  out.replaceChildren(...children);
  out.dataset.http = String(response.status);
  if (code !== null) out.dataset.code = String(code);
}

async function main() {
  const loading = document.getElementById("loading");
  try {
    const response = await fetch("/openapi.json");
    state.doc = await response.json();
  } catch (error) {
    loading.textContent = `Could not load /openapi.json: ${error}`;
    return;
  }
  const doc = state.doc;
  document.getElementById("title").textContent = doc.info.title;
  document.getElementById("version").textContent = `v${doc.info.version} · OpenAPI ${doc.openapi}`;
  document.getElementById("intro").replaceChildren(prose(doc.info.description));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, spec] of Object.entries(item)) {
      state.ops.push({ id: spec.operationId, path, method, spec });
    }
  }
  const nav = document.getElementById("operations");
  nav.replaceChildren(...state.ops.map((op) => el("button", { type: "button", "data-op": op.id },
    el("span", { class: "path" }, op.id), " ", el("small", {}, op.spec.summary || ""))));
  nav.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-op]");
    if (button) select(button.dataset.op);
  });
  document.getElementById("example").addEventListener("change", pickExample);
  document.getElementById("send").addEventListener("click", send);
  window.addEventListener("hashchange", () => select(location.hash.slice(1)));
  codeTable(document.getElementById("codes"));
  loading.hidden = true;
  document.getElementById("intro").hidden = false;
  document.getElementById("codes-box").hidden = false;
  if (location.hash) select(location.hash.slice(1));
  document.body.dataset.ready = "true";
}

main();
