"""``revloop app``: the what-if page in a browser (needs the ``app`` extra)."""

from __future__ import annotations

import click

from sim.cli.common import bundled_scenario, fail, load, say
from sim.cli.options import rep_count_option, seed_option, workers_option

__all__ = ["app_command"]


@click.command("app")
@click.argument("scenario", type=click.Path(dir_okay=False), default=None, required=False)
@click.option("--port", default=5006, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-browser", is_flag=True, help="Serve the page without opening a browser.")
@seed_option
@rep_count_option(20)
@click.option("--no-quick", is_flag=True, help="Skip the quick rough answer; run in full at once.")
@click.option("--store", type=click.Path(file_okay=False), help="Keep replications on disk here.")
@workers_option
def app_command(
    scenario: str | None,
    port: int,
    no_browser: bool,
    seed: int,
    reps: int,
    no_quick: bool,
    store: str | None,
    workers: int | None,
) -> None:
    """Open the what-if page on SCENARIO (default: the bundled base) at localhost:PORT.

    Controls for the levers pulled most, the rest as YAML; charts, KPI bands and the paired
    comparison with the saved file update as replications arrive. Needs the app extra.
    """
    try:
        from sim.app.page import serve
    except ImportError:
        fail('the app needs its extra: pip install "revloop[app]"')
    path = scenario or str(bundled_scenario("base.yaml"))
    load(path)
    say(f"revloop what-if page on http://localhost:{port} (Ctrl-C to stop)")
    serve(path, port, not no_browser, seed, reps, workers or 2, not no_quick, store)
