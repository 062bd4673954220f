"""deploy, destroy, doctor: the stack of infra/maskalbum.yaml. Ask, print, confirm; the work is batch_job.deploy's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from PIL import Image
from rich.table import Table

from batch_job.errors import MaskalbumError, UsageError
from cli.common import console, fail, out, settings_from

app = typer.Typer()

Stack = Annotated[str | None, typer.Option("--stack", help="CloudFormation stack name (default: maskalbum).")]
Region = Annotated[str | None, typer.Option(help="AWS region (default: boto3's chain: AWS_REGION, the profile).")]
Profile = Annotated[str | None, typer.Option(help="AWS profile for credentials and region.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _session(stack: str | None, region: str | None, profile: str | None):
    from batch_job.aws import client, region_of

    settings = settings_from(stack=stack, region=region, profile=profile)
    region_name = region_of(settings)
    settings = settings.replace(region=region_name)
    return settings, region_name, lambda service: client(settings, service)


def _config_path() -> Path:
    import os

    from batch_job.settings import ENV_PREFIX, default_config_path

    return Path(os.environ.get(ENV_PREFIX + "CONFIG") or default_config_path())


@app.command(rich_help_panel="AWS setup")
def deploy(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    with_line_bot: Annotated[
        bool, typer.Option(help="Also the LINE bot (Lambda + function URL); push its image first.")
    ] = False,
    line_secret: Annotated[bool, typer.Option(help="Create the LINE secret (for album notifications).")] = False,
    vpc: Annotated[str | None, typer.Option(help="VPC id (default: the region's default VPC).")] = None,
    subnets: Annotated[
        str | None, typer.Option(help="Comma-separated subnet ids (default: the default VPC's).")
    ] = None,
    private: Annotated[
        bool, typer.Option(help="Private subnets: no public IP (needs a NAT or the VPC endpoints in docs/AWS.md).")
    ] = False,
    max_vcpus: Annotated[int | None, typer.Option(help="vCPUs running at once (32: 16 shard containers).")] = None,
    no_spot: Annotated[bool, typer.Option("--no-spot", help="On-demand Fargate only.")] = False,
    image_tag: Annotated[
        str | None, typer.Option(help="Worker image tag the job definitions use (default: this version).")
    ] = None,
    album_retention_days: Annotated[
        int | None, typer.Option(help="Delete albums this many days after upload (90).")
    ] = None,
    template: Annotated[Path | None, typer.Option(help="The template (default: infra/maskalbum.yaml).")] = None,
    batch_service_role: Annotated[
        str | None,
        typer.Option(hidden=True, help="Batch service role ARN; AWS uses its service-linked role (moto needs one)."),
    ] = None,
    yes: Yes = False,
) -> None:
    """Create or update the AWS stack (bucket, Batch, roles, ECR, logs) and write its outputs into the config file."""
    from batch_job import __version__
    from batch_job import deploy as d

    try:
        settings, region_name, clients = _session(stack, region, profile)
        cfn = clients("cloudformation")
        current = d.stack_info(cfn, settings.stack)
        values: dict[str, str | None] = {
            "AssignPublicIp": "DISABLED" if private else None,
            "MaxVcpus": str(max_vcpus) if max_vcpus else None,
            "UseSpot": "false" if no_spot else None,
            "ImageTag": image_tag or (None if current else __version__),
            "AlbumRetentionDays": str(album_retention_days) if album_retention_days else None,
            "WithLineBot": "true" if with_line_bot else None,
            "CreateLineSecret": "true" if line_secret else None,
            "RepositoryName": None if current else settings.stack.lower(),
        }
        if vpc or subnets or not current:
            default_vpc, default_subnets = (None, None) if (vpc and subnets) else d.default_network(clients("ec2"))
            values["VpcId"] = vpc or default_vpc
            values["SubnetIds"] = subnets or ",".join(default_subnets or [])
        if batch_service_role:
            values["BatchServiceRoleArn"] = batch_service_role
        with console.status("asking CloudFormation what would change"):
            plan = d.plan_stack(cfn, settings.stack, d.template_body(template), d.parameters(values))
        if plan.empty:
            out.print(f"stack {settings.stack} in {region_name}: nothing to change")
        else:
            _print_plan(plan, region_name)
            if not yes and not typer.confirm("deploy these changes?", default=True, err=True):
                d.discard(cfn, plan)
                out.print("nothing deployed")
                raise typer.Exit(0)
            for event in d.execute(cfn, plan):
                colour = (
                    "red" if "FAILED" in event.status else ("green" if event.status.endswith("COMPLETE") else "yellow")
                )
                reason = f" ({event.reason})" if event.reason and "FAILED" in event.status else ""
                console.print(f"  [{colour}]{event.status:<22}[/] {event.logical_id} {event.resource_type}{reason}")
        stack_values = d.stack_values(cfn, settings.stack, region_name)
        path = _config_path()
        d.write_config(path, stack_values.settings())
    except MaskalbumError as exc:
        raise fail(exc) from exc
    out.print(f"\n[bold]config written:[/] {path}")
    for key, value in sorted(stack_values.settings().items()):
        out.print(f"  {key} = {value}")
    out.print("\n[bold]now build and push the worker image[/] (Docker, from this checkout):")
    for line in d.push_commands(stack_values, line_bot=with_line_bot):
        out.print(f"  {line}", soft_wrap=True, highlight=False)
    out.print("\nthen: maskalbum doctor   and   maskalbum submit ./examples/choshi_trip --wait")
    if stack_values.get("LineSecretArn"):
        out.print(f"LINE secret: put the channel's values into {stack_values.get('LineSecretArn')} (docs/LINE.md)")


def _print_plan(plan, region: str) -> None:
    table = Table(
        "action",
        "resource",
        "type",
        "replacement",
        title=f"{plan.kind} stack {plan.stack} in {region}",
        title_justify="left",
    )
    for c in plan.changes:
        table.add_row(c.action, c.logical_id, c.resource_type, c.replacement)
    out.print(table)


@app.command(rich_help_panel="AWS setup")
def destroy(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
    delete_albums: Annotated[
        bool, typer.Option(help="Also empty and delete the bucket with every album in it.")
    ] = False,
    yes: Yes = False,
) -> None:
    """Delete the AWS stack. The album bucket stays unless --delete-albums."""
    from batch_job import deploy as d

    try:
        settings, region_name, clients = _session(stack, region, profile)
        values = d.stack_values(clients("cloudformation"), settings.stack, region_name)
        bucket = values.get("Bucket")
        what = f"stack {settings.stack} in {region_name}" + (
            f" AND the bucket {bucket} with every album" if delete_albums else ""
        )
        if not yes and not typer.confirm(f"delete {what}?", default=False, err=True):
            raise typer.Exit(0)
        for event in d.destroy(clients("cloudformation"), clients("s3"), clients("ecr"), values, delete_albums):
            console.print(f"  {event.status:<22} {event.logical_id}")
    except MaskalbumError as exc:
        raise fail(exc) from exc
    out.print(f"deleted {what}")
    if not delete_albums and bucket:
        out.print(
            f"kept the bucket {bucket} (delete it with `maskalbum destroy --delete-albums` before destroying, "
            f"or in the console)"
        )


@app.command(rich_help_panel="AWS setup")
def doctor(
    stack: Stack = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Check credentials, region, the stack, queue, job definitions, the image in ECR and Rekognition; say "
    "what to fix."""
    from batch_job import deploy as d

    try:
        settings, region_name, clients = _session(stack, region, profile)
    except UsageError as exc:
        raise fail(exc) from exc
    probe = io.BytesIO()
    Image.new("RGB", (80, 80), (128, 128, 128)).save(probe, "JPEG")
    checks = d.doctor(clients, settings, region_name, probe.getvalue())
    for c in checks:
        mark = "[green]ok  [/]" if c.ok else "[red]FAIL[/]"
        out.print(f"{mark} {c.name:<16} {c.detail}", soft_wrap=True, highlight=False)
        if not c.ok and c.fix:
            out.print(f"     fix: {c.fix}", soft_wrap=True, highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(3)
