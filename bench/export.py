"""Export benchmark: seed N comparisons in a dedicated PostgreSQL database and export them.

    python bench/export.py                      # 1,000,000 comparisons (about 166,667 rankings of K=4)
    python bench/export.py --comparisons 100000

Rankings of 4 candidates in 4 distinct tiers give 6 comparisons each. Seeding uses generate_series SQL
(no ORM row by row). Each export (pairwise JSONL, pairwise Parquet) runs in a fresh subprocess, whose
peak RSS (VmHWM) is its memory high-water mark. The last line of output is one JSON object.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from benchdb import ADMIN_DSN, fresh_database

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "rankwise_bench_export"
K = 4


def run(cmd, env):
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)


TEMPLATE = """
import json
from django.contrib.auth.models import User
from labeling.models import Candidate, CandidateRating, Project, Prompt, Ranking
project = Project.objects.create(name="bench", k=%d)
user = User.objects.create_user("bench-template")
prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "t"}], state="done")
candidate = Candidate.objects.create(prompt=prompt, index=0, text="t", model_name="bench-model", model_revision="r1",
                                     sampling={"temperature": 0.7, "top_p": 0.9}, seed=1)
ranking = Ranking.objects.create(prompt=prompt, labeler=user, display_order=[candidate.pk], time_spent_ms=30000)
rating = CandidateRating.objects.create(ranking=ranking, candidate=candidate, tier=1, likert=7)
print(json.dumps({"project": project.pk, "auth_user": user.pk, "labeling_prompt": prompt.pk,
                  "labeling_candidate": candidate.pk, "labeling_ranking": ranking.pk,
                  "labeling_candidaterating": rating.pk}))
""" % K


def clone(conn, template, table, overrides, source="", params=()):
    """INSERT rows that copy the template row of `table`, except the columns given as SQL expressions.
    Other apps add columns to these tables; copying them from a row the ORM wrote fills them correctly."""
    columns = [c for (c,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id' "
        "ORDER BY ordinal_position", [table])]
    values = ", ".join(overrides.get(c, f"tpl.{c}") for c in columns)
    conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} tpl{source} "
                 f"WHERE tpl.id = {int(template[table])}", params)


def seed(url, env, rankings):
    """20 labelers, and `rankings` prompts with K candidates and one ranking each, in a few SQL statements."""
    out = run([sys.executable, "manage.py", "shell", "-c", TEMPLATE], env).stdout
    template = json.loads(out.strip().splitlines()[-1])
    with psycopg.connect(url) as conn:
        clone(conn, template, "auth_user", {"username": "'bench-labeler-' || g"}, ", generate_series(1, 20) g")
        clone(conn, template, "labeling_prompt", {"messages": """jsonb_build_array(jsonb_build_object('role', 'user',
                  'content', 'Benchmark prompt ' || g || ': explain, in a few sentences, why the sky looks blue '
                  'at noon and red at sunset.'))"""}, ", generate_series(1, %s) g", [rankings])
        clone(conn, template, "labeling_candidate", {
            "prompt_id": "p.id", "index": "i", "seed": "1000 + i",
            "text": "'Candidate ' || i || ' for prompt ' || p.id || '. Rayleigh scattering makes short wavelengths "
                    "scatter more, so the daytime sky is blue; at sunset light crosses more air.'"},
            " JOIN labeling_prompt p ON p.id <> tpl.prompt_id CROSS JOIN generate_series(0, %s) i", [K - 1])
        clone(conn, template, "labeling_ranking", {
            "prompt_id": "p.id", "labeler_id": "u.id",
            "display_order": "(SELECT jsonb_agg(c.id ORDER BY c.index DESC) FROM labeling_candidate c "
                             "WHERE c.prompt_id = p.id)"},
            " JOIN labeling_prompt p ON p.id <> tpl.prompt_id"
            " JOIN auth_user u ON u.username = 'bench-labeler-' || (p.id %% 20 + 1)")
        # Distinct tiers 1..K, rotated per ranking so that the winners vary.
        clone(conn, template, "labeling_candidaterating", {
            "ranking_id": "r.id", "candidate_id": "c.id", "tier": f"((c.index + r.id) %% {K}) + 1",
            "likert": f"7 - ((c.index + r.id) %% {K})"},
            " JOIN labeling_ranking r ON r.id <> tpl.ranking_id JOIN labeling_candidate c ON c.prompt_id = r.prompt_id")
        for table in ("labeling_candidaterating", "labeling_ranking", "labeling_candidate", "labeling_prompt"):
            conn.execute(f"DELETE FROM {table} WHERE id = %s", [template[table]])
        conn.execute("ANALYZE")
    return template["project"]


EXPORTER = r"""
import json, os, sys, time, django

def rss_mb(field):
    line = next(l for l in open("/proc/self/status").read().splitlines() if l.startswith(field))
    return round(int(line.split()[1]) / 1024, 1)

django.setup()
from exports.runner import run_export
from exports.spec import ExportSpec
spec = ExportSpec.from_dict({"project_id": int(sys.argv[1]), "dataset": "pairwise", "format": sys.argv[2]})
import pyarrow, pyarrow.parquet  # so that the baseline includes every library the export uses
baseline = rss_mb("VmRSS")
start, cpu_start = time.perf_counter(), time.process_time()
path, rows = run_export(spec, sys.argv[3])
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
peak = rss_mb("VmHWM")
# The baseline is what Django's start-up costs (other apps import torch); the growth is the export's own.
# CPU seconds of this process: the rest of the wall time is PostgreSQL running the query (and, on a busy
# machine, waiting for a core).
print(json.dumps({"rows": rows, "seconds": round(seconds, 2), "exporter_cpu_seconds": round(cpu_seconds, 2),
                  "peak_rss_mb": peak,
                  "rss_before_export_mb": baseline, "export_growth_mb": round(peak - baseline, 1),
                  "bytes": os.path.getsize(path)}))
"""


def export(env, project_id, fmt, folder):
    out = run([sys.executable, "-c", EXPORTER, str(project_id), fmt, str(folder)], env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rows_per_second"] = round(result["rows"] / result["seconds"])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default=ADMIN_DSN)
    parser.add_argument("--host-url", default="postgres://rankwise@127.0.0.1:5432")
    parser.add_argument("--out", default="/tmp/rankwise-bench-export")
    args = parser.parse_args()

    url = f"{args.host_url}/{BENCH_DB}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "CELERY_BROKER_URL": "memory://"}
    env.pop("RANKWISE_TEST_DB_SUFFIX", None)
    rankings = -(-args.comparisons // 6)
    started = time.perf_counter()
    fresh_database(BENCH_DB, env, admin_dsn=args.admin_url)
    project_id = seed(url, env, rankings)
    seeded = time.perf_counter() - started
    print(f"seeded {rankings} rankings ({rankings * 6} comparisons) in {seeded:.1f}s", file=sys.stderr)

    results = {}
    for fmt in ("jsonl", "parquet"):
        results[fmt] = export(env, project_id, fmt, Path(args.out) / fmt)
        print(f"{fmt}: {results[fmt]}", file=sys.stderr)
    print(json.dumps({"comparisons": rankings * 6, "rankings": rankings, "seed_seconds": round(seeded, 1),
                      "jsonl": results["jsonl"], "parquet": results["parquet"],
                      "goal_jsonl_rows_per_second": 100_000, "goal_peak_rss_mb": 300}))


if __name__ == "__main__":
    main()
