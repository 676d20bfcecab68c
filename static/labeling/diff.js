/* What differs between two responses, word by word: pure functions over strings (tests/js/diff.test.mjs).
 *
 * The page shows each side's segments as text nodes (dom.js h()), so a response's markup is never parsed.
 */

// Above this many token pairs the word-level table would cost too much memory and time (two long responses):
// the differing middle is then compared line by line instead.
const MAX_CELLS = 2_000_000;

/** Words and the whitespace between them, so that joining the tokens gives the text back. */
export function tokens(text) {
  return String(text).match(/\s+|[^\s]+/g) || [];
}

/** [{kind: "same" | "removed" | "added", text}] turning `before` into `after`, neighbours of a kind merged. */
export function diffWords(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA -= 1; endB -= 1; }
  const middle = (endA - start) * (endB - start) > MAX_CELLS
    ? diffTokens(lines(a.slice(start, endA)), lines(b.slice(start, endB)))
    : diffTokens(a.slice(start, endA), b.slice(start, endB));
  return merge([
    ...a.slice(0, start).map((text) => ({ kind: "same", text })),
    ...middle,
    ...a.slice(endA).map((text) => ({ kind: "same", text })),
  ]);
}

/** What each response's column shows: the first response without what only the second has, and back. */
export function sides(segments) {
  return {
    before: segments.filter((s) => s.kind !== "added"),
    after: segments.filter((s) => s.kind !== "removed"),
  };
}

function lines(words) {
  const joined = words.join("");
  return joined.match(/[^\n]*\n|[^\n]+/g) || [];
}

/** The longest common subsequence of two token lists, read back as removed/added/same tokens. */
function diffTokens(a, b) {
  const width = b.length + 1;
  const common = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i * width + j] = a[i] === b[j]
        ? common[(i + 1) * width + j + 1] + 1
        : Math.max(common[(i + 1) * width + j], common[i * width + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { out.push({ kind: "same", text: a[i] }); i += 1; j += 1; }
    else if (common[(i + 1) * width + j] >= common[i * width + j + 1]) { out.push({ kind: "removed", text: a[i] }); i += 1; }
    else { out.push({ kind: "added", text: b[j] }); j += 1; }
  }
  a.slice(i).forEach((text) => out.push({ kind: "removed", text }));
  b.slice(j).forEach((text) => out.push({ kind: "added", text }));
  return out;
}

function merge(segments) {
  const out = [];
  for (const segment of segments) {
    const last = out[out.length - 1];
    if (last && last.kind === segment.kind) last.text += segment.text;
    else out.push({ ...segment });
  }
  return out;
}
