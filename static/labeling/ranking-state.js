/* The state of one ranking task, as pure functions over plain (JSON-serializable) objects.
 *
 * The work page only renders this state and calls these functions on keys, clicks, taps and drops;
 * nothing here touches the DOM, so node's test runner covers every rule (tests/js/).
 *
 * A state:
 *   ids       candidate ids in display order (A, B, C, ...)
 *   ratings   {id: Likert score or null}
 *   flags     {id: [flag names]}
 *   tiers     [[id, ...], ...] best first; ids in one tier are tied; an id in no tier is not ranked yet
 *   manual    true once the labeler changed the order by hand: from then on ratings no longer re-derive it
 *   strength  how much the top response beats the second (a name on the `scale`), or null
 *   past      earlier states, for undo (never stored in drafts)
 *
 * `scale`: the preference-strength names, strongest first, as the server defines them
 * (labeling.validation.PREFERENCE_STRENGTHS, sent in the page's config): this module keeps no copy.
 */

const UNDO_DEPTH = 100;

export function create(ids) {
  return {
    ids: [...ids],
    ratings: Object.fromEntries(ids.map((id) => [id, null])),
    flags: Object.fromEntries(ids.map((id) => [id, []])),
    tiers: [],
    manual: false,
    strength: null,
    past: [],
  };
}

/** A state from a saved draft, keeping only what is still valid for these ids (the task's candidates) and
 * this strength `scale`. */
export function restore(ids, saved, scale = []) {
  const state = create(ids);
  if (!saved || typeof saved !== "object") return state;
  const known = new Set(ids);
  for (const id of ids) {
    const likert = saved.ratings && saved.ratings[id];
    if (Number.isInteger(likert)) state.ratings[id] = likert;
    const flags = saved.flags && saved.flags[id];
    if (Array.isArray(flags)) state.flags[id] = flags.filter((f) => typeof f === "string");
  }
  const placed = new Set();
  if (Array.isArray(saved.tiers)) {
    for (const tier of saved.tiers) {
      if (!Array.isArray(tier)) continue;
      const kept = tier.filter((id) => known.has(id) && !placed.has(id));
      kept.forEach((id) => placed.add(id));
      if (kept.length) state.tiers.push(sortByDisplay(state, kept));
    }
  }
  state.manual = Boolean(saved.manual);
  state.strength = scale.includes(saved.strength) ? saved.strength : null;
  if (!state.manual) state.tiers = tiersFromRatings(state);
  return state;
}

/** The state of a ranking as the server stored it (`ratings`: [{candidate, tier, likert, flags}], tiers 1 =
 * best), to amend it. It counts as ordered by hand when its tiers are not the ones its Likert scores give,
 * so that re-rating one response does not undo the labeler's order. */
export function fromStored(ids, ratings, strength, scale = []) {
  const state = create(ids);
  const byTier = new Map();
  for (const { candidate, tier, likert, flags } of ratings) {
    if (!ids.includes(candidate)) continue;
    state.ratings[candidate] = Number.isInteger(likert) ? likert : null;
    state.flags[candidate] = Array.isArray(flags) ? [...flags] : [];
    byTier.set(tier, [...(byTier.get(tier) || []), candidate]);
  }
  state.tiers = [...byTier.keys()].sort((a, b) => a - b).map((tier) => sortByDisplay(state, byTier.get(tier)));
  state.manual = JSON.stringify(state.tiers) !== JSON.stringify(tiersFromRatings(state));
  state.strength = topPair(state) && scale.includes(strength) ? strength : null;
  return state;
}

/** What a draft stores: the state without its undo history. */
export function snapshot(state) {
  const { past, ...rest } = state;
  return structuredClone(rest);
}

// --- Queries --------------------------------------------------------------------------------

/** 1-based tier of `id`, or 0 when it is not ranked yet. */
export function tierOf(state, id) {
  return state.tiers.findIndex((tier) => tier.includes(id)) + 1;
}

export function isTied(state, id) {
  const tier = tierOf(state, id);
  return tier > 0 && state.tiers[tier - 1].length > 1;
}

export function unranked(state) {
  return state.ids.filter((id) => !tierOf(state, id));
}

export function unrated(state) {
  return state.ids.filter((id) => state.ratings[id] === null);
}

/** The ranking's order, flattened: ranked ids best first (ties in display order), then unranked ones. */
export function order(state) {
  return [...state.tiers.flat(), ...unranked(state)];
}

/** [winner, runner-up] when one response alone is best and one alone is second, else null (a tie at the top
 * has no strength to say). */
export function topPair(state) {
  const [first, second] = state.tiers;
  if (!first || !second || first.length !== 1 || second.length !== 1) return null;
  return [first[0], second[0]];
}

/** Preference strength is asked for K=2 (required) and for the top pair of a larger K (optional). */
export function strengthRequired(state) {
  return state.ids.length === 2 && topPair(state) !== null;
}

/** What still stops a submit, as [{id, problem}] (empty when the ranking can be submitted). */
export function missing(state, { likert = true } = {}) {
  const problems = [];
  if (likert) unrated(state).forEach((id) => problems.push({ id, problem: "unrated" }));
  unranked(state).forEach((id) => problems.push({ id, problem: "unranked" }));
  if (!problems.length && strengthRequired(state) && !state.strength) {
    problems.push({ id: topPair(state)[0], problem: "strength" });
  }
  return problems;
}

/** The body of a ranking submit: one entry per candidate, in display order. */
export function submission(state) {
  const ratings = state.ids.map((id) => ({
    candidate: id, tier: tierOf(state, id), likert: state.ratings[id], flags: [...state.flags[id]],
  }));
  const pair = topPair(state);
  return pair && state.strength ? { ratings, strength: state.strength } : { ratings };
}

// --- Ratings become the ranking ---------------------------------------------------------------

/** Rated ids grouped by score, best first; equal scores are a tie; unrated ids stay unranked. */
export function tiersFromRatings(state) {
  const scores = [...new Set(state.ids.map((id) => state.ratings[id]).filter((v) => v !== null))].sort((a, b) => b - a);
  return scores.map((score) => state.ids.filter((id) => state.ratings[id] === score));
}

// --- Changes: each returns a new state with the previous one in `past` ------------------------

function change(state, edit) {
  const next = snapshot(state);
  edit(next);
  next.tiers = next.tiers.filter((tier) => tier.length);
  next.past = [...state.past.slice(-(UNDO_DEPTH - 1)), snapshot(state)];
  // A strength is about one particular pair: when the top pair changes, it has to be said again.
  if (next.strength && !samePair(topPair(state), topPair(next))) next.strength = null;
  return next;
}

function samePair(a, b) {
  return Boolean(a && b && a[0] === b[0] && a[1] === b[1]);
}

function sortByDisplay(state, ids) {
  return [...ids].sort((a, b) => state.ids.indexOf(a) - state.ids.indexOf(b));
}

function withoutId(tiers, id) {
  return tiers.map((tier) => tier.filter((other) => other !== id)).filter((tier) => tier.length);
}

export function rate(state, id, likert) {
  if (!state.ids.includes(id) || state.ratings[id] === likert) return state;
  return change(state, (next) => {
    next.ratings[id] = likert;
    if (!next.manual) next.tiers = tiersFromRatings(next);
    else if (!tierOf(next, id)) next.tiers = placeByRating(next, id);
  });
}

/** After manual edits, a newly rated response goes where its score puts it, without undoing those edits. */
function placeByRating(state, id) {
  const score = state.ratings[id];
  const tiers = state.tiers.map((tier) => [...tier]);
  const scoreOf = (tier) => Math.max(...tier.map((other) => state.ratings[other] ?? -Infinity));
  const same = tiers.findIndex((tier) => scoreOf(tier) === score);
  if (same >= 0) {
    tiers[same] = sortByDisplay(state, [...tiers[same], id]);
    return tiers;
  }
  const below = tiers.findIndex((tier) => scoreOf(tier) < score);
  tiers.splice(below < 0 ? tiers.length : below, 0, [id]);
  return tiers;
}

export function toggleFlag(state, id, name) {
  if (!state.ids.includes(id)) return state;
  return change(state, (next) => {
    const flags = next.flags[id];
    next.flags[id] = flags.includes(name) ? flags.filter((f) => f !== name) : [...flags, name];
  });
}

/** Move a ranked response one place up (-1) or down (+1). Out of a tie first: it ends up alone, just above
 * (or below) the responses it was tied with; alone, it swaps places with the neighbouring tier. */
export function move(state, id, direction) {
  const at = tierOf(state, id) - 1;
  if (at < 0) return state;
  const target = at + direction;
  if (state.tiers[at].length === 1 && (target < 0 || target >= state.tiers.length)) return state;
  return change(state, (next) => {
    next.manual = true;
    if (next.tiers[at].length > 1) {
      next.tiers[at] = next.tiers[at].filter((other) => other !== id);
      next.tiers.splice(direction < 0 ? at : at + 1, 0, [id]);
    } else {
      [next.tiers[at], next.tiers[target]] = [next.tiers[target], next.tiers[at]];
    }
  });
}

/** Tie a ranked response with the tier above (-1) or below (+1). */
export function tie(state, id, direction) {
  const at = tierOf(state, id) - 1;
  const target = at + direction;
  if (at < 0 || target < 0 || target >= state.tiers.length) return state;
  return change(state, (next) => {
    next.manual = true;
    next.tiers[target] = sortByDisplay(next, [...next.tiers[target], id]);
    next.tiers[at] = next.tiers[at].filter((other) => other !== id);
  });
}

/** Put `id` in the same tier as `otherId` (a drop on a response or on a tier). */
export function joinTierOf(state, id, otherId) {
  if (id === otherId || !tierOf(state, otherId) || tierOf(state, id) === tierOf(state, otherId)) return state;
  return change(state, (next) => {
    next.manual = true;
    next.tiers = withoutId(next.tiers, id);
    const at = tierOf(next, otherId) - 1;
    next.tiers[at] = sortByDisplay(next, [...next.tiers[at], id]);
  });
}

/** Put `id` alone in a new tier just above `otherId`'s tier, or last when `otherId` is null (tap to rank,
 * a drop between tiers). */
export function placeBefore(state, id, otherId) {
  if (id === otherId) return state;
  return change(state, (next) => {
    next.manual = true;
    next.tiers = withoutId(next.tiers, id);
    const at = otherId === null ? next.tiers.length : tierOf(next, otherId) - 1;
    next.tiers.splice(at < 0 ? next.tiers.length : at, 0, [id]);
  });
}

export function unrank(state, id) {
  if (!tierOf(state, id)) return state;
  return change(state, (next) => {
    next.manual = true;
    next.tiers = withoutId(next.tiers, id);
  });
}

/** Empty the ranking, to rank by tapping responses best first. */
export function clearRanking(state) {
  if (!state.tiers.length) return state;
  return change(state, (next) => {
    next.manual = true;
    next.tiers = [];
  });
}

/** Back to the ranking the ratings give. */
export function rankByRatings(state) {
  return change(state, (next) => {
    next.manual = false;
    next.tiers = tiersFromRatings(next);
  });
}

export function setStrength(state, strength, scale) {
  if (!scale.includes(strength) || !topPair(state) || state.strength === strength) return state;
  return change(state, (next) => { next.strength = strength; });
}

export function undo(state) {
  if (!state.past.length) return state;
  const previous = structuredClone(state.past[state.past.length - 1]);
  return { ...previous, past: state.past.slice(0, -1) };
}
