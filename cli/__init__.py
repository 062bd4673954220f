"""maskalbum's command line: thin typer commands over batch_job."""
