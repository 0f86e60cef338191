"""The Salt adapter: salt-api (api.py), its event stream (events.py), Salt's return formats
(results.py) and salt-ssh (ssh.py). Nothing here knows Flask.

What services use is re-exported here: `from portal.adapters import salt` then `salt.SaltAPI`,
`salt.job_event`, `salt.state_outcome`, ... The salt-ssh client is `portal.adapters.salt.ssh`.
"""
from portal.adapters.salt.api import MINION_ID, RETRY_STATUS, SaltAPI, exact_minion_id
from portal.adapters.salt.errors import SaltAuthError, SaltBadRequest, SaltError, SaltUnavailable
from portal.adapters.salt.events import EventStream, JobEvent, is_run_return, job_event, run_id_of, step_name
from portal.adapters.salt.results import (
                                         StateOutcome,
                                         StateResult,
                                         count_units,
                                         minion_address,
                                         parse_state_key,
                                         state_outcome,
                                         summarize_orchestration,
)

__all__ = [
    "SaltError", "SaltUnavailable", "SaltAuthError", "SaltBadRequest",
    "SaltAPI", "EventStream", "exact_minion_id", "MINION_ID", "RETRY_STATUS",
    "JobEvent", "job_event", "is_run_return", "run_id_of", "step_name",
    "parse_state_key", "StateResult", "StateOutcome", "state_outcome", "summarize_orchestration",
    "count_units", "minion_address",
]
