from tests.ops.conftest import jobs_config, slack_receiver, smtp_server  # noqa: F401
