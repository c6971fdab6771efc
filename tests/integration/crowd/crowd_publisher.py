"""A separate orchestrator process for the crash test: publishes (and optionally collects and
settles) one campaign round. Invoked as ``python crowd_publisher.py <job.json>``."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.collect import collect_answers
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.crowd.publish import publish_items
from orchestrator.crowd.render import TaskRenderer
from orchestrator.crowd.settle import default_decisions, settle_assignments
from orchestrator.db.engine import make_engine


def main(path: str) -> None:
    job = json.loads(Path(path).read_text())
    engine = make_engine(job["database_url"])
    platform = MTurkPlatform.connect(
        job["endpoint_url"],
        aws_access_key_id="AKIDSIM",
        aws_secret_access_key="s",
        max_requests_per_second=200,
    )
    cid, rid = uuid.UUID(job["campaign_id"]), uuid.UUID(job["round_id"])
    # an entry is an item id, or a [first, second] pair published as one pair HIT
    items = [
        uuid.UUID(i) if isinstance(i, str) else (uuid.UUID(i[0]), uuid.UUID(i[1]))
        for i in job["item_ids"]
    ]
    crowd = CampaignCrowd.load(engine, platform, cid)
    rep = publish_items(crowd, rid, items, renderer=TaskRenderer())
    print(
        f"published created={rep.created} recovered={rep.recovered} pending={len(rep.pending)}",
        flush=True,
    )
    if job.get("settle"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            col = collect_answers(crowd)
            print(
                f"collect outstanding={len(col.outstanding_hits)} new={col.new_answers} "
                f"errors={col.errors[:2]}",
                flush=True,
            )
            if col.done:
                break
            time.sleep(0.2)
        st = settle_assignments(crowd, default_decisions(crowd))
        print(f"settled approved={st.approved} pending={st.pending}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
