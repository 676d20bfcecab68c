"""Quality figures kept up to date on every submit, so that reading them never scans the rankings:
per prompt (agreement between its labelers), per labeler in a project (running sums for peer agreement,
gold accuracy, qualification, speed, skips, position and length bias, and the automatic flag), per
project (Krippendorff's alpha, refreshed in the background), and gold reference rankings.

The definitions of agreement are rankdata.agreement's; these rows only add up its results."""
import math

from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling.models.projects import Project
from labeling.models.prompts import Prompt
from labeling.models.rows import from_cursor
from rankdata.intervals import correlation_interval, wilson_interval


def add_to_counters(model, key_fields, rows, windows=None):
    """Add each row's numbers to the stored row with the same key (a new row starts from the fields'
    defaults), in one INSERT ... ON CONFLICT DO UPDATE statement; returns the stored rows after the addition.

    `rows`: dicts with every key field and the same counters (plus, for a new row, its relations).
    `windows`: {prefix: size} of rolling windows (see LabelerQuality's recent window): the row's
    `{prefix}_count`, `_agreeing` and `_pairs` go into the bucket filling now, which, once it would pass `size`
    observations, becomes the `{prefix}_prev_*` bucket and starts again with them."""
    if not rows:
        return []
    table = model._meta.db_table
    fields = [field for field in model._meta.concrete_fields if not field.primary_key or field.is_relation]
    windows = windows or {}
    windowed = {f"{prefix}_{name}" for prefix in windows for name in WINDOW_SUMS}
    counters = [field.column for field in fields if field.name in rows[0] and field.name not in key_fields
                and not field.is_relation and field.name not in windowed]
    refreshed = [field.column for field in fields if getattr(field, "auto_now", False)]
    now = timezone.now()
    # One array per column, as model(**row).save() would write each new row: the statement's text and its
    # number of parameters stay the same however many rows (each submit adds to 1 + its peers'), so
    # psycopg parses it once per process instead of on every call.
    # (Rows have the same keys, so a column missing from the first gets its default in all of them.)
    columns = [
        [field.get_db_prep_save(row[field.name], connection) for row in rows] if field.name in rows[0]
        else [field.get_db_prep_save(now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
                                     else field.get_default(), connection)] * len(rows)
        for field in fields]
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    updates = [f"{column} = stored.{column} + EXCLUDED.{column}" for column in counters]
    updates += [f"{column} = EXCLUDED.{column}" for column in refreshed]
    for prefix, size in windows.items():
        # SET reads the row as it was before this statement, so every column sees the same `roll`.
        roll = f"stored.{prefix}_count + EXCLUDED.{prefix}_count > {int(size)}"
        for name in WINDOW_SUMS:
            column = f"{prefix}_{name}"
            updates.append(f"{column} = CASE WHEN {roll} THEN EXCLUDED.{column} "
                           f"ELSE stored.{column} + EXCLUDED.{column} END")
            updates.append(f"{prefix}_prev_{name} = CASE WHEN {roll} THEN stored.{column} "
                           f"ELSE stored.{prefix}_prev_{name} END")
    keys = ", ".join(model._meta.get_field(name).column for name in key_fields)
    sql = (f"INSERT INTO {table} AS stored ({', '.join(field.column for field in fields)}) "
           f"SELECT * FROM UNNEST({arrays}) ON CONFLICT ({keys}) DO UPDATE SET {', '.join(updates)} RETURNING *")
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        return from_cursor(model, cursor)


# What a rolling window adds up per bucket: observations (comparisons, gold rankings) and their candidate pairs.
WINDOW_SUMS = ("count", "agreeing", "pairs")


def shift_counters(model, key_fields, rows, windows=()):
    """Add each row's numbers, negative ones included, to the stored row with the same key; returns the
    stored rows after the change, in the order given. For an amended ranking, whose rows all exist already:
    add_to_counters cannot subtract, since PostgreSQL checks the proposed INSERT row (its non-negative
    counters) before it finds the conflict.

    `rows`: dicts with every key field and the counters to change. `windows`: prefixes of rolling windows
    (see LabelerQuality's recent window) whose `{prefix}_agreeing` and `{prefix}_pairs` in a row change an
    observation already counted: the change goes to the bucket filling now when it can hold it, else to the
    one before. The rules read the two buckets' sum, which is then exact while the observation is in either
    (a bucket may carry it from a roll on, until the next roll). A change a bucket cannot hold is one to an
    observation both buckets have rolled past: it is left out."""
    table = model._meta.db_table
    refreshed = [field for field in model._meta.concrete_fields if getattr(field, "auto_now", False)]
    shifted = []
    for row in rows:
        keys = {model._meta.get_field(name).column: row[name] for name in key_fields}
        windowed = {f"{prefix}_{name}" for prefix in windows for name in ("agreeing", "pairs")}
        deltas = {model._meta.get_field(name).column: value for name, value in row.items()
                  if name not in key_fields and name not in windowed}
        sets = [f"{column} = {column} + %s" for column in deltas]
        values = list(deltas.values())
        for prefix in windows:
            agreeing, pairs = row.get(f"{prefix}_agreeing", 0), row.get(f"{prefix}_pairs", 0)
            holds = [f"{{bucket}}agreeing + {int(agreeing)} BETWEEN 0 AND {{bucket}}pairs + {int(pairs)}",
                     f"{{bucket}}count > 0"]
            now = " AND ".join(part.format(bucket=f"{prefix}_") for part in holds)
            before = " AND ".join(part.format(bucket=f"{prefix}_prev_") for part in holds)
            # SET reads the row as it was before this statement, so both buckets see the same conditions.
            for name, delta in (("agreeing", int(agreeing)), ("pairs", int(pairs))):
                sets.append(f"{prefix}_{name} = CASE WHEN {now} THEN {prefix}_{name} + {delta} "
                            f"ELSE {prefix}_{name} END")
                sets.append(f"{prefix}_prev_{name} = CASE WHEN NOT ({now}) AND {before} "
                            f"THEN {prefix}_prev_{name} + {delta} ELSE {prefix}_prev_{name} END")
        sets += [f"{field.column} = %s" for field in refreshed]
        values += [*[field.get_db_prep_save(timezone.now(), connection) for field in refreshed], *keys.values()]
        sql = (f"UPDATE {table} SET {', '.join(sets)} WHERE {' AND '.join(f'{column} = %s' for column in keys)} "
               "RETURNING *")
        shifted += list(model.objects.raw(sql, values))
    return shifted


def correlation(n, sx, sy, sxx, syy, sxy):
    """Pearson's r from running sums; None while either side has no spread."""
    spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
    if n < 2 or spread <= 0:
        return None
    return (n * sxy - sx * sy) / math.sqrt(spread)


class GoldSource(models.TextChoices):
    ADMIN = "admin", "Set by an admin"
    IMPORT = "import", "Imported"
    REVIEW = "review", "Taken from an accepted review"
    UNANIMOUS = "unanimous", "Labelers agreed unanimously"


class GoldRanking(models.Model):
    """A prompt's reference ranking. Gold prompts leave the pool: they are mixed into every labeler's queue
    (at the project's gold rate, and as the qualification set), each labeler at most once."""

    prompt = models.OneToOneField(Prompt, primary_key=True, on_delete=models.CASCADE, related_name="gold")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="gold_rankings")
    reference = models.JSONField(help_text="Tier of each candidate, by candidate id: {id: tier}, 1 = best.")
    source = models.CharField(max_length=16, choices=GoldSource.choices, default=GoldSource.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Gold ranking of prompt {self.prompt_id}"

    @property
    def tiers(self):
        return {int(candidate): tier for candidate, tier in self.reference.items()}


class PromptAgreement(models.Model):
    """Agreement among the labelers of one (non-gold) prompt, over every two of its rankings."""

    prompt = models.OneToOneField(Prompt, primary_key=True, on_delete=models.CASCADE, related_name="agreement")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_agreements")
    rankings = models.PositiveIntegerField(default=0)
    agreeing_pairs = models.PositiveIntegerField(default=0, help_text="Candidate pairs two labelers ordered alike, "
                                                 "over every two labelers.")
    pairs = models.PositiveIntegerField(default=0)
    tau_sum = models.FloatField(default=0)
    tau_count = models.PositiveIntegerField(default=0)
    extra_slots = models.PositiveSmallIntegerField(default=0, help_text="Rank slots added because agreement was "
                                                   "below the project's threshold.")
    contentious = models.BooleanField(default=False, help_text="Below the threshold with every extra slot used: "
                                      "its rankings went to review.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "contentious"], name="prompt_agreement_project")]

    def __str__(self):
        return f"Agreement on prompt {self.prompt_id}"

    @property
    def agreement(self):
        return self.agreeing_pairs / self.pairs if self.pairs else None

    @property
    def tau(self):
        return self.tau_sum / self.tau_count if self.tau_count else None


class Qualification(models.TextChoices):
    PENDING = "pending", "Not qualified yet"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    OVERRIDDEN = "overridden", "Let through by an admin"


# Qualification states in which a labeler gets real tasks.
QUALIFIED = (Qualification.PASSED, Qualification.OVERRIDDEN)


class LabelerQualityQuerySet(models.QuerySet):
    def flagged(self):
        return self.filter(flagged_at__isnull=False)


class LabelerQuality(models.Model):
    """One labeler's standing in one project: running sums every figure of the quality page derives from,
    the qualification, and the automatic flag. Written only by labeling.workflow."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labeler_quality")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quality")
    rankings = models.PositiveIntegerField(default=0)
    candidates_ranked = models.PositiveIntegerField(default=0)
    time_spent_ms = models.BigIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    # Against the other labelers of the same (non-gold) prompts: each other ranking is one comparison.
    peer_comparisons = models.PositiveIntegerField(default=0)
    peer_agreeing_pairs = models.PositiveIntegerField(default=0)
    peer_pairs = models.PositiveIntegerField(default=0)
    peer_tau_sum = models.FloatField(default=0)
    peer_tau_count = models.PositiveIntegerField(default=0)
    # Against gold references, qualification included.
    gold_rankings = models.PositiveIntegerField(default=0)
    gold_agreeing_pairs = models.PositiveIntegerField(default=0)
    gold_pairs = models.PositiveIntegerField(default=0)
    # The qualification set is the gold rankings made since it (re)started: the gold sums at that moment.
    qualification = models.CharField(max_length=16, choices=Qualification.choices, default=Qualification.PENDING)
    qualification_gold_before = models.PositiveIntegerField(default=0)
    qualification_agreeing_before = models.PositiveIntegerField(default=0)
    qualification_pairs_before = models.PositiveIntegerField(default=0)
    # Running sums for Pearson's r over every rated candidate: (display position, tier) and
    # (length rank, 1 = longest, tier).
    position_n = models.PositiveIntegerField(default=0)
    position_sx = models.FloatField(default=0)
    position_sy = models.FloatField(default=0)
    position_sxx = models.FloatField(default=0)
    position_syy = models.FloatField(default=0)
    position_sxy = models.FloatField(default=0)
    length_n = models.PositiveIntegerField(default=0)
    length_sx = models.FloatField(default=0)
    length_sy = models.FloatField(default=0)
    length_sxx = models.FloatField(default=0)
    length_syy = models.FloatField(default=0)
    length_sxy = models.FloatField(default=0)
    # The recent window the drift rules read, as two buckets of the project's flag_window observations: the
    # one filling now (recent_count of them) and the full one before it (recent_prev_*), so that it holds the
    # latest flag_window to 2 x flag_window observations without storing them one by one. An observation is a
    # comparison with another labeler's ranking of the same prompt or a gold ranking (recent_*), or a gold
    # ranking alone (recent_gold_*). Both start again when the qualification is settled: the qualification is
    # the level the work after it is compared with.
    recent_count = models.PositiveIntegerField(default=0)
    recent_agreeing = models.PositiveIntegerField(default=0)
    recent_pairs = models.PositiveIntegerField(default=0)
    recent_prev_count = models.PositiveIntegerField(default=0)
    recent_prev_agreeing = models.PositiveIntegerField(default=0)
    recent_prev_pairs = models.PositiveIntegerField(default=0)
    recent_gold_count = models.PositiveIntegerField(default=0)
    recent_gold_agreeing = models.PositiveIntegerField(default=0)
    recent_gold_pairs = models.PositiveIntegerField(default=0)
    recent_gold_prev_count = models.PositiveIntegerField(default=0)
    recent_gold_prev_agreeing = models.PositiveIntegerField(default=0)
    recent_gold_prev_pairs = models.PositiveIntegerField(default=0)
    # Kept by the rules (in_doubt_now) for the lease, which reads it in the statement it runs anyway.
    in_doubt = models.BooleanField(default=False)
    flagged_at = models.DateTimeField(null=True, blank=True)
    flag_reasons = models.JSONField(default=list, blank=True)
    # An admin who clears a flag vouches for the labeler: the rules do not flag them again.
    flag_cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")

    objects = LabelerQualityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "labeler quality"
        constraints = [models.UniqueConstraint(fields=["project", "labeler"], name="one_quality_row_per_labeler")]

    def __str__(self):
        return f"{self.labeler} in {self.project}"

    @property
    def is_flagged(self):
        return self.flagged_at is not None

    @property
    def peer_agreement(self):
        return self.peer_agreeing_pairs / self.peer_pairs if self.peer_pairs else None

    @property
    def peer_tau(self):
        return self.peer_tau_sum / self.peer_tau_count if self.peer_tau_count else None

    @property
    def gold_accuracy(self):
        return self.gold_agreeing_pairs / self.gold_pairs if self.gold_pairs else None

    @property
    def qualification_done(self):
        return self.gold_rankings - self.qualification_gold_before

    def qualification_outcome(self, project):
        """Passed or failed, on the qualification's gold rankings as they stand."""
        passed = (self.qualification_agreement or 0) >= project.qualification_min_agreement
        return Qualification.PASSED if passed else Qualification.FAILED

    @property
    def qualification_agreement(self):
        pairs = self.gold_pairs - self.qualification_pairs_before
        return (self.gold_agreeing_pairs - self.qualification_agreeing_before) / pairs if pairs else None

    @property
    def position_bias(self):
        return correlation(self.position_n, self.position_sx, self.position_sy, self.position_sxx,
                           self.position_syy, self.position_sxy)

    @property
    def length_bias(self):
        return correlation(self.length_n, self.length_sx, self.length_sy, self.length_sxx, self.length_syy,
                           self.length_sxy)

    @property
    def rankings_per_hour(self):
        return self.rankings * 3_600_000 / self.time_spent_ms if self.time_spent_ms else None

    @property
    def skip_rate(self):
        seen = self.rankings + self.skips
        return self.skips / seen if seen else None

    @property
    def mean_ms_per_candidate(self):
        return self.time_spent_ms / self.candidates_ranked if self.candidates_ranked else None

    def _window(self, prefix):
        """(observations, agreeing pairs, pairs) in a recent window: both buckets."""
        return tuple(getattr(self, f"{prefix}_{name}") + getattr(self, f"{prefix}_prev_{name}")
                     for name in WINDOW_SUMS)

    @property
    def recent_observations(self):
        return self._window("recent")[0]

    @property
    def recent_agreement(self):
        """Agreement over the recent window: candidate pairs ordered like the other labelers of the same
        prompts or like gold references, since the qualification."""
        _, agreeing, pairs = self._window("recent")
        return agreeing / pairs if pairs else None

    @property
    def recent_gold_accuracy(self):
        _, agreeing, pairs = self._window("recent_gold")
        return agreeing / pairs if pairs else None

    def earlier(self):
        """(observations, agreeing pairs, pairs) before the recent window, the qualification included: the
        labeler's level the recent window is compared with."""
        count, agreeing, pairs = self._window("recent")
        return (self.peer_comparisons + self.gold_rankings - count,
                self.peer_agreeing_pairs + self.gold_agreeing_pairs - agreeing,
                self.peer_pairs + self.gold_pairs - pairs)

    def in_doubt_now(self, project):
        """Whether the labeler's recent agreement is below the project's peer agreement limit, though not
        (yet) beyond its noise: they then draw gold at the project's doubt_gold_rate, so that references
        settle it sooner than comparisons with peers would, for a careful labeler with an unlucky run as for
        one who stopped caring."""
        recent = self.recent_agreement
        return recent is not None and recent < project.flag_min_peer_agreement

    def rule_breaches(self, project):
        """Why the project's rules would flag this labeler now (empty: they would not). Each rule waits for
        a minimum of evidence, set per project, and a share (gold accuracy, peer agreement) breaks its rule
        only when even the top of its interval is below the limit: a careful labeler with a few unlucky
        rankings stays clear, and one who clicks at random is caught after few.

        The recent rules read the window of the labeler's latest observations since their qualification
        (flag_window): a labeler who ranked carefully through the qualification, or for months, and then stops
        caring is caught on what they do now, where their lifetime figures would hide it for long."""
        reasons = []
        if (self.gold_rankings >= project.flag_after_gold
                and below(self.gold_accuracy, self.gold_pairs, project.flag_min_gold_accuracy)):
            reasons.append(f"gold accuracy {self.gold_accuracy:.2f} < {project.flag_min_gold_accuracy:.2f}")
        gold_count, _, gold_pairs = self._window("recent_gold")
        if (gold_count >= project.flag_after_gold
                and below(self.recent_gold_accuracy, gold_pairs, project.flag_min_gold_accuracy)):
            reasons.append(f"recent gold accuracy {self.recent_gold_accuracy:.2f} < "
                           f"{project.flag_min_gold_accuracy:.2f} (last {gold_count} gold rankings)")
        # References outrank peers: recent gold accuracy above its limit beyond its noise vouches for a labeler
        # whose peers happen to disagree with them (a careful labeler among careless ones, or on hard prompts).
        vouched = gold_count >= project.flag_after_gold and above(self.recent_gold_accuracy, gold_pairs,
                                                                  project.flag_min_gold_accuracy)
        if (self.peer_comparisons >= project.flag_after_comparisons and not vouched
                and below(self.peer_agreement, self.peer_pairs, project.flag_min_peer_agreement, PEER_CONFIDENCE)):
            reasons.append(f"peer agreement {self.peer_agreement:.2f} < {project.flag_min_peer_agreement:.2f}")
        count, agreeing, pairs = self._window("recent")
        recent = self.recent_agreement
        if (count >= project.flag_after_comparisons and not vouched
                and below(recent, pairs, project.flag_min_peer_agreement)):
            reasons.append(f"recent agreement {recent:.2f} < {project.flag_min_peer_agreement:.2f} "
                           f"(last {count} comparisons and gold rankings)")
        before, before_agreeing, before_pairs = self.earlier()
        if before_pairs and count >= project.flag_window and before >= project.flag_after_comparisons:
            level = before_agreeing / before_pairs
            if below(recent, pairs, level - project.flag_max_drop):
                reasons.append(f"recent agreement {recent:.2f}, down from {level:.2f} (last {count} observations)")
        if self.rankings >= project.flag_after_rankings:
            bias = self.position_bias
            # Beyond its noise too: a careful labeler's ten rankings can follow a random display order closely
            # by chance; one who keeps the order shown follows it exactly, and is flagged at once.
            if (bias is not None and correlation_interval(abs(bias), self.position_n, FLAG_CONFIDENCE)[0]
                    >= project.flag_max_position_bias):
                reasons.append(f"position bias {bias:.2f} (limit {project.flag_max_position_bias:.2f})")
            per_candidate = self.mean_ms_per_candidate
            if per_candidate is not None and per_candidate < project.flag_min_ms_per_candidate:
                reasons.append(f"{per_candidate:.0f} ms per response (limit {project.flag_min_ms_per_candidate} ms)")
        return reasons


# The interval a share must lie wholly below to break a rule: 90% two-sided, so 95% sure it is too low.
FLAG_CONFIDENCE = 0.90
# Lifetime agreement with peers is judged on a wider interval. Its candidate pairs are not independent: the
# C(K,2) pairs of one comparison rise and fall together, so a 90% interval over pairs is narrower than the
# truth, and flagged a careful labeler with an unlucky early run (0.60 on 60 pairs from 20 comparisons,
# against a 0.7 limit) in about one simulated project in 14 (bench/quality.py, seeds 1-9). At 99% a labeler
# at chance (0.4-0.5) is still beyond it after the same 20 comparisons. The recent-window rules keep 90%:
# at 99% a labeler who turned careless went unflagged for 57 rankings (seed 5). Counting comparisons instead
# of pairs was slower still.
PEER_CONFIDENCE = 0.99


def below(share, pairs, limit, confidence=FLAG_CONFIDENCE):
    """Whether a share measured on `pairs` candidate pairs is below `limit` beyond its noise."""
    return share is not None and share < limit and wilson_interval(share, pairs, confidence)[1] < limit


def above(share, pairs, limit):
    """Whether a share measured on `pairs` candidate pairs is above `limit` beyond its noise."""
    return share is not None and share > limit and wilson_interval(share, pairs, FLAG_CONFIDENCE)[0] > limit


def quarantined():
    """A condition on rankings: its labeler is flagged in the ranking's project. (Whether a reviewer's
    acceptance lets it through is decided with the review status, where the training filter is defined.)"""
    return Exists(LabelerQuality.objects.flagged().filter(
        project_id=OuterRef("prompt__project_id"), labeler_id=OuterRef("labeler_id")))


def of_gold_prompt():
    return Q(prompt__gold__isnull=False)


class ProjectAgreement(models.Model):
    """Krippendorff's alpha (ordinal) over every ranking of a project: it needs all of them at once, so it
    is computed in the background (worker.refresh_agreement_alpha) and read from here."""

    project = models.OneToOneField(Project, primary_key=True, on_delete=models.CASCADE, related_name="agreement")
    alpha = models.FloatField(null=True, blank=True)
    rankings = models.PositiveIntegerField(default=0, help_text="Rankings alpha was computed over.")
    computed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Agreement in {self.project}"
