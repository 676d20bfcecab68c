/* Building DOM from data. Every text from labelers, imports or models goes in through text nodes: h() never
 * parses HTML. The only HTML the pages insert is what the server rendered and sanitized (see trusted()). */

/** createElement with attributes and children; strings become text nodes, never HTML. */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function kbd(text) {
  return h("kbd", { text });
}

/** An element holding HTML the server rendered from Markdown and cleaned with nh3 (labeling/rendering.py,
 * the guidelines renderer): the one way server HTML reaches the page. */
export function trusted(tag, props, sanitizedHtml) {
  const node = h(tag, props);
  node.innerHTML = sanitizedHtml || "";
  return node;
}
