"""The ``rq cron`` configuration: ``rq cron workers.cron --url $REDIS_URL`` (or ``flask --app wsgi jobs scheduler``).
One scheduler process for the whole deployment; its jobs go to the queues the workers serve."""

from rq import cron

from workers.periodic import SCHEDULE

for task, every, queue_name in SCHEDULE:
    cron.register(task, queue_name, interval=every, job_timeout=300, result_ttl=600)
