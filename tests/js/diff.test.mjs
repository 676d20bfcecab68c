// Unit tests of the word diff between two responses (static/labeling/diff.js), run by `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { diffWords, sides, tokens } from "../../static/labeling/diff.js";

const text = (segments) => segments.map((s) => s.text).join("");

test("tokens keep every character, so each side joins back to its response", () => {
  assert.deepEqual(tokens("a  b\n c"), ["a", "  ", "b", "\n ", "c"]);
  assert.deepEqual(tokens(""), []);
  const before = "The cat sat on the mat.\n\nIt purred.";
  const after = "The dog sat on a mat.\n\nIt purred loudly!";
  const { before: left, after: right } = sides(diffWords(before, after));
  assert.equal(text(left), before);
  assert.equal(text(right), after);
});

test("only the words that differ are marked, neighbours of a kind merged", () => {
  assert.deepEqual(diffWords("The cat sat on the mat.", "The dog sat on the mat."), [
    { kind: "same", text: "The " },
    { kind: "removed", text: "cat" },
    { kind: "added", text: "dog" },
    { kind: "same", text: " sat on the mat." },
  ]);
  assert.deepEqual(diffWords("same", "same"), [{ kind: "same", text: "same" }]);
  assert.deepEqual(diffWords("", "new words"), [{ kind: "added", text: "new words" }]);
  assert.deepEqual(diffWords("old words", ""), [{ kind: "removed", text: "old words" }]);
});

test("markup is compared as plain text, never interpreted", () => {
  const segments = diffWords("<b>bold</b> claim", "<script>alert(1)</script> claim");
  assert.deepEqual(segments, [
    { kind: "removed", text: "<b>bold</b>" },
    { kind: "added", text: "<script>alert(1)</script>" },
    { kind: "same", text: " claim" },
  ]);
});

test("two long responses are compared line by line in their differing middle", () => {
  const lines = (n, word) => Array.from({ length: n }, (_, i) => `line ${i} ${word} ${"x ".repeat(20)}\n`).join("");
  const before = lines(150, "alpha");
  const after = lines(150, "beta");
  const segments = diffWords(before, after);
  const { before: left, after: right } = sides(segments);
  assert.equal(text(left), before);
  assert.equal(text(right), after);
  assert.ok(segments.some((s) => s.kind === "removed" && s.text.includes("alpha")));
  assert.ok(segments.every((s) => s.kind !== "same" || !s.text.includes("alpha")));
});
