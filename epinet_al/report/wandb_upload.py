"""Put a written report on Weights & Biases: report.html as an HTML panel and, with the CSV tables,
as an artifact of type "report". wandb is imported only here, and only when asked for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from epinet_al.report.errors import ReportError

WANDB_MODES = ("offline", "online")
JOB_TYPE = "report"


def log_report(report_dir: Path, project: str, mode: str, name: str) -> Path:
    """Log report_dir's report.html, summary.csv and savings.csv to a new W&B run in `project`.

    mode: "offline" (the run goes to report_dir/wandb/, `wandb sync` it later) or "online".
    name: the run's name and, made safe for W&B, its artifact's (e.g. the sweep folder's name).
    Returns the W&B run's local folder. Raises ReportError if W&B fails; the report stays written.
    """
    import wandb

    if mode not in WANDB_MODES:
        raise ReportError(f"unknown W&B mode {mode!r}; valid: {', '.join(WANDB_MODES)}")
    html = report_dir / "report.html"
    try:
        run = wandb.init(
            project=project,
            job_type=JOB_TYPE,
            name=f"report-{name}",
            dir=str(report_dir),
            mode=cast(Any, mode),  # checked against WANDB_MODES above
            settings=wandb.Settings(init_timeout=60, silent=True),
        )
        try:
            # inject=False: the page is complete as it is; W&B would otherwise add its own stylesheet.
            run.log({"report": wandb.Html(html.read_text(encoding="utf-8"), inject=False)})
            artifact = wandb.Artifact(re.sub(r"[^\w.-]", "_", f"report-{name}"), type=JOB_TYPE)
            for file in ("report.html", "report.md", "summary.csv", "savings.csv"):
                artifact.add_file(str(report_dir / file))
            run.log_artifact(artifact)
        finally:
            run.finish()
    except Exception as error:  # W&B raises many types (network, auth, usage)
        raise ReportError(f"the report is in {report_dir}, but W&B failed: {error}") from error
    return Path(run.dir).parent
