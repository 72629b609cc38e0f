"""Every domain's tables, imported so that `Base.metadata` knows them all (Alembic, tests)."""

from patron.apikeys import models as apikeys_models
from patron.audit import models as audit_models
from patron.campaigns import models as campaigns_models
from patron.catalog import models as catalog_models
from patron.check_ins import models as check_ins_models
from patron.checkout import models as checkout_models
from patron.core import events, idempotency
from patron.core.db import Base
from patron.count_cards import models as count_card_models
from patron.coupons import models as coupons_models
from patron.imports import models as imports_models
from patron.journeys import models as journeys_models
from patron.mall import models as mall_models
from patron.member_auth import models as member_auth_models
from patron.members import models as members_models
from patron.messages import models as messages_models
from patron.orders import models as orders_models
from patron.points import models as points_models
from patron.profiles import models as profiles_models
from patron.referrals import models as referrals_models
from patron.reports import models as reports_models
from patron.schedule import models as schedule_models
from patron.segments import models as segments_models
from patron.staff import models as staff_models
from patron.stored_value import models as stored_value_models
from patron.stores import models as stores_models
from patron.tags import models as tags_models
from patron.tiers import models as tiers_models
from patron.webhooks import models as webhooks_models

metadata = Base.metadata

__all__ = [
    "apikeys_models",
    "audit_models",
    "campaigns_models",
    "catalog_models",
    "check_ins_models",
    "checkout_models",
    "count_card_models",
    "coupons_models",
    "events",
    "idempotency",
    "imports_models",
    "journeys_models",
    "mall_models",
    "member_auth_models",
    "members_models",
    "messages_models",
    "metadata",
    "orders_models",
    "points_models",
    "profiles_models",
    "referrals_models",
    "reports_models",
    "schedule_models",
    "segments_models",
    "staff_models",
    "stored_value_models",
    "stores_models",
    "tags_models",
    "tiers_models",
    "webhooks_models",
]
