// Form controls generated from an operation's fields (GET /api/operations), never written per operation.

import { el } from "./api.js";

const label = (name) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
const text = (value) => (value === null || value === undefined ? "" : String(value));

export function buildControls(fields, models, main, advanced) {
  main.replaceChildren();
  advanced.replaceChildren();
  const readers = [];
  const uploads = [];
  for (const field of fields) {
    if (field.kind === "file" && field.name === "mask") continue; // painted with the brush (or chosen beside it)
    const { node, read, file } = control(field, models);
    (field.advanced ? advanced : main).append(node);
    readers.push([field, read]);
    if (file) uploads.push([field.name, file]);
  }
  advanced.closest("details").hidden = advanced.children.length === 0;
  return {
    mask: fields.find((f) => f.kind === "file" && f.name === "mask") || null,
    // [name, File] for file options other than the mask
    files: () => uploads.map(([name, file]) => [name, file()]).filter(([, f]) => f),
    // [name, value] pairs for what differs from the defaults: no options means the operation's own choices
    values() {
      const out = [];
      for (const [field, read] of readers) {
        const value = read();
        if (value !== null && value !== undefined) out.push([field.name, value]);
      }
      return out;
    },
  };
}

function control(field, models) {
  const id = `opt-${field.name}`;
  const help = field.help ? el("p", { class: "help", id: `${id}-help`, text: field.help }) : null;
  const described = help ? `${id}-help` : null;
  const node = el("div", { class: "field" });
  const make = builders[field.model ? "model" : field.kind] || builders.text;
  const { input, read, file } = make(field, id, described, models);
  node.append(el("label", { for: id, text: label(field.name) }), input);
  if (help) node.append(help);
  return { node, read, file };
}

const builders = {
  number(field, id, described) {
    const [low, high] = field.range || [null, null];
    if (!field.optional && field.range && high - low <= 1) { // a share: a slider with its value beside it
      const input = el("input", { type: "range", id, min: low, max: high, step: "0.05", value: text(field.default),
                                  "aria-describedby": described });
      const shown = el("output", { for: id, text: text(field.default) });
      input.addEventListener("input", () => { shown.textContent = input.value; });
      const row = el("div", { class: "row" }, input, shown);
      return { input: row, read: () => (Number(input.value) === field.default ? null : input.value) };
    }
    const input = el("input", { type: "number", id, step: field.kind === "integer" ? "1" : "any",
                                min: low, max: high, value: text(field.default), inputmode: "decimal",
                                placeholder: field.optional ? "auto" : null, "aria-describedby": described });
    return { input, read: () => {
      const value = input.value.trim();
      return value === "" || value === text(field.default) ? null : value;
    } };
  },
  integer(field, id, described, models) { return builders.number(field, id, described, models); },
  boolean(field, id, described) {
    const input = el("input", { type: "checkbox", id, checked: field.default === true, "aria-describedby": described });
    return { input, read: () => (input.checked === (field.default === true) ? null : String(input.checked)) };
  },
  choice(field, id, described) {
    const input = el("select", { id, "aria-describedby": described },
      ...field.choices.map((c) => el("option", { value: c, text: c, selected: c === field.default })));
    return { input, read: () => (input.value === field.default ? null : input.value) };
  },
  setting(field, id, described) { // auto / on / off, and for some a strength 0..1
    const select = el("select", { id, "aria-describedby": described },
      ...field.choices.map((c) => el("option", { value: c, text: c, selected: c === field.default })));
    if (!field.strength) return { input: select, read: () => (select.value === "auto" ? null : select.value) };
    select.append(el("option", { value: "strength", text: "strength…" }));
    const amount = el("input", { type: "range", id: `${id}-strength`, min: "0", max: "1", step: "0.05", value: "0.5",
                                 "aria-label": `${label(field.name)} strength`, hidden: true });
    const shown = el("output", { for: `${id}-strength`, text: "0.5", hidden: true });
    select.addEventListener("change", () => { amount.hidden = shown.hidden = select.value !== "strength"; });
    amount.addEventListener("input", () => { shown.textContent = amount.value; });
    const row = el("div", { class: "row" }, select, amount, shown);
    return { input: row, read: () => (select.value === "strength" ? amount.value
                                      : select.value === "auto" ? null : select.value) };
  },
  model(field, id, described, models) {
    const options = field.optional ? [el("option", { value: "", text: "auto (chosen by content)" })] : [];
    for (const m of models.filter((m) => m.purpose === field.model)) {
      const note = m.ready ? "" : " (not downloaded)";
      options.push(el("option", { value: m.name, text: `${m.name} ×${m.scale}${note}`, disabled: !m.ready,
                                  selected: m.name === field.default }));
    }
    const input = el("select", { id, "aria-describedby": described }, ...options);
    return { input, read: () => (input.value === "" || input.value === field.default ? null : input.value) };
  },
  file(field, id, described) {
    const input = el("input", { type: "file", id, "aria-describedby": described });
    return { input, read: () => null, file: () => input.files[0] || null };
  },
  text(field, id, described) {
    const input = el("input", { type: "text", id, value: text(field.default), placeholder: field.optional ? "auto" : null,
                                "aria-describedby": described, autocomplete: "off" });
    return { input, read: () => {
      const value = input.value.trim();
      return value === "" || value === text(field.default) ? null : value;
    } };
  },
};
