"""Every domain's service, imported so that what they register takes effect in any process:
event subscribers (points earn on `order.completed`), member-merge and erasure handlers, export
sections and timeline sources. The app imports them through its routers; the CLI through this."""

from patron.apikeys import service as apikeys_service
from patron.audit import service as audit_service
from patron.catalog import service as catalog_service
from patron.members import service as members_service
from patron.orders import service as orders_service
from patron.points import service as points_service
from patron.staff import service as staff_service
from patron.stores import service as stores_service

__all__ = [
    "apikeys_service",
    "audit_service",
    "catalog_service",
    "members_service",
    "orders_service",
    "points_service",
    "staff_service",
    "stores_service",
]
