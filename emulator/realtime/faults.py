"""The file API's fault flags, mapped onto a WebSocket session.

- `--fail-429`: the handshake is refused with HTTP 429 `limit_burst_rate` (one draw per
  connection);
- `--fail-500`: an `error` event `internal_error`, then the server closes the socket with
  code 1011 (one draw per response, before it starts);
- `--cut`: the connection is dropped mid-response, without a close frame (the client sees
  code 1006);
- `--moderation`: an `error` event `data_inspection_failed` mid-response; that response
  never finishes, the session carries on;
- the handshake header `x-emulator-fault` forces one fault: `429` on the handshake, any
  other kind (`500`, `cut`, `moderation`, `moderation-input`, `stall`) on the session's
  first response. `moderation-input` refuses the response before it starts; `stall` goes
  silent for `--stall-s` after its first delta.

The draws come from their own seeded sequences (one for handshakes, one for responses), so a
realtime session never shifts the faults that file requests meet.
"""

from __future__ import annotations

from emulator.config import EmulatorConfig
from emulator.faults import FaultPlan


class RealtimeFaults:
    def __init__(self, config: EmulatorConfig) -> None:
        self.handshake = FaultPlan(
            fail_429=config.fail_429, fail_500=0.0, cut=0.0, moderation=0.0, seed=config.seed
        )
        self.response = FaultPlan(
            fail_429=0.0,
            fail_500=config.fail_500,
            cut=config.cut,
            moderation=config.moderation,
            seed=config.seed + 1,
        )

    def reset(self) -> None:
        self.handshake.reset()
        self.response.reset()
