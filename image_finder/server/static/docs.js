// The API's reference, drawn from its OpenAPI schema.
"use strict";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function describeParameters(operation) {
  const list = element("ul", "params");
  for (const p of operation.parameters || []) {
    const type = p.schema?.type || (p.schema?.anyOf || []).map((s) => s.type).filter((t) => t !== "null").join("|");
    list.append(element("li", "", `${p.name} (${p.in}${p.required ? ", required" : ""}${type ? ", " + type : ""})`));
  }
  const body = operation.requestBody?.content;
  if (body) list.append(element("li", "", `body: ${Object.keys(body).join(" or ")}`));
  return list;
}

async function main() {
  const target = document.getElementById("routes");
  const schema = await (await fetch("/api/v1/openapi.json")).json();
  target.replaceChildren();
  for (const [path, methods] of Object.entries(schema.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const card = element("section", "card route");
      const head = element("h2");
      head.append(element("span", `method ${method}`, method.toUpperCase()), element("code", "", path));
      card.append(head, element("p", "", operation.summary || ""));
      card.append(describeParameters(operation));
      target.append(card);
    }
  }
}

main().catch((error) => { document.getElementById("routes").textContent = `The schema could not be read: ${error}`; });
