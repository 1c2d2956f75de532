// Talking to the server: every failure becomes an Error whose message a person can read.

export async function call(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Error("The server cannot be reached. Is “revive serve” still running?");
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const why = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(why);
  }
  return body;
}

export function form(entries) {
  const data = new FormData();
  for (const [name, value, filename] of entries) {
    if (filename !== undefined) data.append(name, value, filename);
    else data.append(name, value);
  }
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

export function seconds(value) {
  if (value === null || value === undefined) return "";
  return value < 90 ? `${Math.max(0, Math.round(value))} s` : `${(value / 60).toFixed(1)} min`;
}
