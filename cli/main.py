"""Entry point of the ``fulian`` console script."""

from __future__ import annotations

import click

from . import org_cmds, platform_cmds, schedule_cmds, setup_cmds
from .base import FulianGroup


@click.group(cls=FulianGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fulian", prog_name="fulian")
def cli() -> None:
    """Fulian (服联): run a privately deployed service-chain platform.

    Settings come from FULIAN_* environment variables and the instance folder
    (./instance, or FULIAN_INSTANCE).
    """


for command in (
    setup_cmds.init, setup_cmds.demo, setup_cmds.serve, setup_cmds.worker, setup_cmds.check,
    setup_cmds.db_group,
    setup_cmds.i18n_group, org_cmds.store, org_cmds.staff, org_cmds.service, org_cmds.user,
    platform_cmds.plugins, platform_cmds.license, platform_cmds.theme, schedule_cmds.roster,
    schedule_cmds.schedule, schedule_cmds.coverage,
):
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="fulian")
