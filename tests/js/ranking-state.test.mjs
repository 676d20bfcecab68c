// Unit tests of the work page's ranking state (static/labeling/ranking-state.js), run by `node --test`
// (tests/js/test_node.py runs them inside the pytest suite).
import assert from "node:assert/strict";
import { test } from "node:test";

import * as R from "../../static/labeling/ranking-state.js";

const A = 11, B = 12, C = 13, D = 14;
// The page gets the scale from the server's config (labeling.validation.PREFERENCE_STRENGTHS).
const SCALE = ["significantly_better", "better", "slightly_better", "negligibly_better"];

function rated(scores) {
  let state = R.create([A, B, C, D]);
  for (const [id, score] of Object.entries(scores)) state = R.rate(state, Number(id), score);
  return state;
}

test("ratings become the ranking, equal scores a tie, unrated responses stay unranked", () => {
  let state = rated({ [A]: 5, [B]: 7, [C]: 5 });
  assert.deepEqual(state.tiers, [[B], [A, C]]);
  assert.deepEqual(R.unranked(state), [D]);
  assert.equal(R.tierOf(state, C), 2);
  assert.equal(R.isTied(state, A), true);
  assert.deepEqual(R.missing(state), [{ id: D, problem: "unrated" }, { id: D, problem: "unranked" }]);
  state = R.rate(state, D, 1);
  assert.deepEqual(state.tiers, [[B], [A, C], [D]]);
  assert.deepEqual(R.missing(state), []);
  assert.deepEqual(R.order(state), [B, A, C, D]);
});

test("re-rating re-derives the ranking until the labeler edits it by hand", () => {
  let state = rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 });
  state = R.rate(state, D, 7);
  assert.deepEqual(state.tiers, [[D], [A], [B], [C]]);
  state = R.move(state, C, -1);
  assert.equal(state.manual, true);
  assert.deepEqual(state.tiers, [[D], [A], [C], [B]]);
  state = R.rate(state, C, 1);  // the hand-made order stays
  assert.deepEqual(state.tiers, [[D], [A], [C], [B]]);
  state = R.rankByRatings(state);
  assert.deepEqual(state.tiers, [[D], [A], [B], [C]]);
  assert.equal(state.manual, false);
});

test("after manual edits a newly rated response goes where its score puts it", () => {
  let state = rated({ [A]: 6, [B]: 4 });
  state = R.move(state, B, -1);                 // [B] [A]
  state = R.rate(state, C, 5);                  // above the first tier scored lower
  assert.deepEqual(state.tiers, [[C], [B], [A]]);
  state = R.rate(state, D, 4);                  // the same score as B's tier: tied with B
  assert.deepEqual(state.tiers, [[C], [B, D], [A]]);
});

test("move: one place at a time, out of a tie first, never past the ends", () => {
  let state = rated({ [A]: 6, [B]: 5, [C]: 5, [D]: 2 });
  assert.deepEqual(state.tiers, [[A], [B, C], [D]]);
  state = R.move(state, C, -1);
  assert.deepEqual(state.tiers, [[A], [C], [B], [D]]);
  state = R.move(state, C, -1);
  assert.deepEqual(state.tiers, [[C], [A], [B], [D]]);
  assert.equal(R.move(state, C, -1), state, "moving the best one up changes nothing");
  assert.equal(R.move(state, D, 1), state, "moving the worst one down changes nothing");
  state = R.move(state, A, 1);
  assert.deepEqual(state.tiers, [[C], [B], [A], [D]]);
  state = rated({ [A]: 5, [B]: 5, [C]: 5, [D]: 5 });
  state = R.move(state, B, 1);
  assert.deepEqual(state.tiers, [[A, C, D], [B]]);
});

test("tie with the neighbouring tier, in display order inside the tier", () => {
  let state = rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 });
  state = R.tie(state, C, -1);
  assert.deepEqual(state.tiers, [[A], [B, C], [D]]);
  state = R.tie(state, A, 1);
  assert.deepEqual(state.tiers, [[A, B, C], [D]]);
  assert.equal(R.tie(state, D, 1), state);
  assert.equal(R.tie(state, A, -1), state);
});

test("drag and drop and tap to rank", () => {
  let state = rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 });
  state = R.joinTierOf(state, D, A);
  assert.deepEqual(state.tiers, [[A, D], [B], [C]]);
  state = R.placeBefore(state, C, A);
  assert.deepEqual(state.tiers, [[C], [A, D], [B]]);
  state = R.placeBefore(state, C, null);
  assert.deepEqual(state.tiers, [[A, D], [B], [C]]);
  state = R.unrank(state, B);
  assert.deepEqual(R.unranked(state), [B]);

  state = R.clearRanking(state);
  for (const id of [C, A, D, B]) state = R.placeBefore(state, id, null);
  assert.deepEqual(state.tiers, [[C], [A], [D], [B]]);
  assert.deepEqual(R.submission(state).ratings.map((r) => [r.candidate, r.tier]), [[A, 2], [B, 4], [C, 1], [D, 3]]);
});

test("undo walks back through every change, one at a time", () => {
  const start = rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 });
  let state = R.move(start, B, -1);
  state = R.toggleFlag(state, B, "hallucination");
  state = R.tie(state, C, -1);
  state = R.undo(state);
  assert.deepEqual(state.tiers, [[B], [A], [C], [D]]);
  assert.deepEqual(state.flags[B], ["hallucination"]);
  state = R.undo(state);
  assert.deepEqual(state.flags[B], []);
  state = R.undo(state);
  assert.deepEqual(R.snapshot(state), R.snapshot(start));
  for (let i = 0; i < 10; i++) state = R.undo(state);
  assert.deepEqual(R.snapshot(state), R.snapshot(R.create([A, B, C, D])));
  assert.equal(R.undo(state), state);
});

test("flags toggle per response and go into the submission", () => {
  let state = rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 });
  state = R.toggleFlag(state, A, "hallucination");
  state = R.toggleFlag(state, A, "harmful_advice");
  state = R.toggleFlag(state, A, "hallucination");
  assert.deepEqual(R.submission(state).ratings[0], { candidate: A, tier: 1, likert: 6, flags: ["harmful_advice"] });
});

test("preference strength: required for K=2, about the top pair, forgotten when that pair changes", () => {
  let state = R.rate(R.rate(R.create([A, B]), A, 4), B, 6);
  assert.deepEqual(R.topPair(state), [B, A]);
  assert.equal(R.strengthRequired(state), true);
  assert.deepEqual(R.missing(state), [{ id: B, problem: "strength" }]);
  assert.equal(R.setStrength(state, "much_better", SCALE), state, "only Llama 2's four levels");
  state = R.setStrength(state, "slightly_better", SCALE);
  assert.deepEqual(R.missing(state), []);
  assert.deepEqual(R.submission(state).strength, "slightly_better");
  state = R.move(state, A, -1);
  assert.equal(state.strength, null);
  state = R.rate(R.rate(R.create([A, B]), A, 5), B, 5);  // a tie says nothing about strength
  assert.equal(R.topPair(state), null);
  assert.deepEqual(R.missing(state), []);
  assert.equal("strength" in R.submission(state), false);

  state = R.setStrength(rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 }), "better", SCALE);
  assert.equal(R.strengthRequired(state), false, "optional for K > 2");
  assert.equal(R.submission(state).strength, "better");
});

test("a draft restores what is valid and nothing else", () => {
  const state = R.move(rated({ [A]: 6, [B]: 5, [C]: 4, [D]: 3 }), D, -1);
  const saved = JSON.parse(JSON.stringify(R.snapshot(state)));
  assert.deepEqual(R.snapshot(R.restore([A, B, C, D], saved, SCALE)), R.snapshot(state));
  assert.equal("past" in saved, false);

  const tampered = { ...saved, tiers: [[A, 99], [A, B], "x", [C]], strength: "hugely", ratings: { [A]: "7" } };
  const restored = R.restore([A, B, C, D], tampered, SCALE);
  assert.deepEqual(restored.tiers, [[A], [B], [C]]);
  assert.equal(restored.strength, null);
  assert.equal(restored.ratings[A], null);
  assert.deepEqual(R.snapshot(R.restore([A, B], null)), R.snapshot(R.create([A, B])));
});

test("a stored ranking comes back as it was stored, hand-made when its order is not the ratings' order", () => {
  const stored = [
    { candidate: B, tier: 1, likert: 5, flags: ["hallucination"] },
    { candidate: A, tier: 2, likert: 6, flags: [] },
    { candidate: C, tier: 2, likert: 6, flags: [] },
    { candidate: D, tier: 3, likert: 2, flags: [] },
  ];
  let state = R.fromStored([A, B, C, D], stored, "better", SCALE);
  assert.deepEqual(state.tiers, [[B], [A, C], [D]]);
  assert.equal(state.manual, true);
  assert.equal(state.strength, null, "no strength without one response alone in each of the first two tiers");
  assert.deepEqual(state.flags[B], ["hallucination"]);
  assert.deepEqual(R.submission(state).ratings, [
    { candidate: A, tier: 2, likert: 6, flags: [] }, { candidate: B, tier: 1, likert: 5, flags: ["hallucination"] },
    { candidate: C, tier: 2, likert: 6, flags: [] }, { candidate: D, tier: 3, likert: 2, flags: [] }]);
  state = R.rate(state, D, 7);  // re-rating does not undo the stored order
  assert.deepEqual(state.tiers, [[B], [A, C], [D]]);

  const byRatings = R.fromStored([A, B], [{ candidate: A, tier: 2, likert: 3 }, { candidate: B, tier: 1, likert: 6 }],
    "slightly_better", SCALE);
  assert.equal(byRatings.manual, false);
  assert.equal(byRatings.strength, "slightly_better");
  assert.equal(R.fromStored([A, B], [{ candidate: A, tier: 2, likert: 3 }, { candidate: B, tier: 1, likert: 6 }],
    "hugely", SCALE).strength, null);
});
