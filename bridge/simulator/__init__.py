"""A PrestaShop webservice simulator: a real HTTP server on 127.0.0.1 that answers like a PrestaShop shop.

state = ShopState(ManualClock())
with Simulator(state, flavour="8.1") as shop:
    requests.get(f"{shop.url}/api/orders?output_format=JSON", auth=(DEMO_API_KEY, ""))
"""

from __future__ import annotations

from bridge.simulator.faults import FAULT_KINDS, FaultKind, FaultPlan
from bridge.simulator.server import DEMO_API_KEY, RequestRecord, Simulator
from bridge.simulator.state import ShopState

__all__ = ["DEMO_API_KEY", "FAULT_KINDS", "FaultKind", "FaultPlan", "RequestRecord", "ShopState", "Simulator"]
