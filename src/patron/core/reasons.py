"""The stable codes of field errors: every entry of a 422 problem's `errors` list and every
import row error carries one as `code`, beside an English `message` (or `reason`) for people.
Integrators match on the code; the message may be reworded at any time.

A code is added here before it is raised anywhere; a code is never renamed or reused."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Values in general: what the API and the importers say of any field.
    missing = "missing"
    too_short = "too_short"
    too_long = "too_long"
    too_small = "too_small"
    too_large = "too_large"
    out_of_range = "out_of_range"
    bad_format = "bad_format"
    wrong_type = "wrong_type"
    not_a_choice = "not_a_choice"
    not_a_number = "not_a_number"
    not_a_whole_number = "not_a_whole_number"
    not_a_boolean = "not_a_boolean"
    not_a_date = "not_a_date"
    not_a_datetime = "not_a_datetime"
    not_an_amount = "not_an_amount"
    not_a_mobile = "not_a_mobile"
    not_an_email = "not_an_email"
    not_a_gender = "not_a_gender"
    not_a_status = "not_a_status"
    in_future = "in_future"
    dates_reversed = "dates_reversed"
    unknown_field = "unknown_field"
    invalid_json = "invalid_json"
    invalid = "invalid"
    control_character = "control_character"
    bidi_override = "bidi_override"
    # Things a field names that do not exist or lie outside the caller's stores.
    unknown_store = "unknown_store"
    store_closed = "store_closed"
    unknown_region = "unknown_region"
    unknown_table = "unknown_table"
    store_required = "store_required"
    unknown_member = "unknown_member"
    unknown_guide = "unknown_guide"
    unknown_category = "unknown_category"
    unknown_order = "unknown_order"
    unknown_template = "unknown_template"
    unknown_line = "unknown_line"
    unknown_attribute = "unknown_attribute"
    unknown_payment_method = "unknown_payment_method"
    bad_cursor = "bad_cursor"
    # Rules of the domains.
    stores_conflict = "stores_conflict"
    stores_missing = "stores_missing"
    role_not_allowed = "role_not_allowed"
    hq_needs_all_stores = "hq_needs_all_stores"
    # A regional manager is scoped to regions; no other role is.
    regions_missing = "regions_missing"
    regions_not_allowed = "regions_not_allowed"
    guide_not_in_store = "guide_not_in_store"
    issuer_required = "issuer_required"
    identity_taken = "identity_taken"
    member_of_other_store = "member_of_other_store"
    merge_into_self = "merge_into_self"
    options_required = "options_required"
    options_not_allowed = "options_not_allowed"
    options_repeat = "options_repeat"
    category_cycle = "category_cycle"
    discount_exceeds_price = "discount_exceeds_price"
    paid_mismatch = "paid_mismatch"
    payments_mismatch = "payments_mismatch"
    order_total_zero = "order_total_zero"
    order_total_too_large = "order_total_too_large"
    refund_items_or_all = "refund_items_or_all"
    order_of_other_member = "order_of_other_member"
    exceeds_order_share = "exceeds_order_share"
    below_min_burn = "below_min_burn"
    # Points as cash (积分抵现) on an order or a checkout.
    points_not_whole_fen = "points_not_whole_fen"
    exceeds_points_cap = "exceeds_points_cap"
    exceeds_category_cap = "exceeds_category_cap"
    points_not_with_coupons = "points_not_with_coupons"
    points_need_member = "points_need_member"
    # An order's lines name what paid them (points, stored value) and their tier discounts.
    tenders_mismatch = "tenders_mismatch"
    tenders_exceed_paid = "tenders_exceed_paid"
    tier_discounts_mismatch = "tier_discounts_mismatch"
    # Imported history cannot burn points: a 积分 payment row is refused.
    points_not_imported = "points_not_imported"
    zero_points = "zero_points"
    balance_too_large = "balance_too_large"
    factor_not_above_one = "factor_not_above_one"
    # Coupons: a template's values, and why an issue left a member out.
    needed_for_type = "needed_for_type"
    not_for_type = "not_for_type"
    validity_missing = "validity_missing"
    validity_conflict = "validity_conflict"
    members_or_mobiles = "members_or_mobiles"
    transfer_to_self = "transfer_to_self"
    out_of_stock = "out_of_stock"
    limit_reached = "limit_reached"
    member_not_found = "member_not_found"
    # Stored value: a recharge names an amount or a package.
    amount_or_package = "amount_or_package"
    # A recharge package's count cards: a product that does not exist, or is not on sale.
    unknown_card_product = "unknown_card_product"
    card_product_inactive = "card_product_inactive"
    # ... and an adjustment moves principal or bonus.
    zero_adjustment = "zero_adjustment"
    # Stored value: paying an order with it, and the payment password.
    code_or_password = "code_or_password"
    verification_without_stored_value = "verification_without_stored_value"
    verifications_differ = "verifications_differ"
    stored_value_needs_member = "stored_value_needs_member"
    password_too_simple = "password_too_simple"
    # Check-in: a streak bonus keyed by what is not a day of the cycle (1..7 or 1..30).
    bonus_day_outside_cycle = "bonus_day_outside_cycle"
    # Tiers: the ladder's rules, and a tier named that does not exist.
    tier_code_taken = "tier_code_taken"
    tier_rank_taken = "tier_rank_taken"
    retention_above_entry = "retention_above_entry"
    base_tier_entry = "base_tier_entry"
    base_tier_missing = "base_tier_missing"
    thresholds_not_rising = "thresholds_not_rising"
    unknown_tier = "unknown_tier"
    plan_grants_nothing = "plan_grants_nothing"
    # Tier benefits: a tier earning rule, and the tier discount an order records.
    amount_not_for_tier = "amount_not_for_tier"
    amount_needed = "amount_needed"
    tier_discount_needs_member = "tier_discount_needs_member"
    tier_discount_exceeds_discounts = "tier_discount_exceeds_discounts"
    no_tier_discount = "no_tier_discount"
    staff_no_tier_discount = "staff_no_tier_discount"
    # Imported files and their rows.
    file_empty = "file_empty"
    file_unreadable = "file_unreadable"
    columns_missing = "columns_missing"
    duplicate_row = "duplicate_row"
    rows_not_together = "rows_not_together"
    order_kept_without_member = "order_kept_without_member"
    too_many_rows = "too_many_rows"
    unpacked_too_large = "unpacked_too_large"
    # Checkout: the member by id or by code, and stored value beyond what is left to pay.
    member_id_or_code = "member_id_or_code"
    exceeds_amount_due = "exceeds_amount_due"
    # Webhooks: an event type no domain publishes, and a URL Patron will not call.
    unknown_event_type = "unknown_event_type"
    url_not_allowed = "url_not_allowed"
    # Tags: a member's tag named by name or by id, and a rule tag's rows in a file.
    tag_or_tag_id = "tag_or_tag_id"
    # campaigns
    segment_or_rule = "segment_or_rule"
    unknown_segment = "unknown_segment"
    control_reason_missing = "control_reason_missing"
    budget_below_cost = "budget_below_cost"
    rule_tag_is_computed = "rule_tag_is_computed"
    # Journeys: a definition's steps, and what they name.
    step_key_taken = "step_key_taken"
    unknown_step = "unknown_step"
    loop_without_wait = "loop_without_wait"
    unknown_tag = "unknown_tag"
    invalid_rule = "invalid_rule"
    entry_days_needed = "entry_days_needed"
    wait_kind = "wait_kind"
    # The points mall: a redemption's way of receiving a product, and what that way needs.
    fulfilment_not_offered = "fulfilment_not_offered"
    fulfilment_details = "fulfilment_details"
    # Referrals: an invite code nobody holds, and a member's own code.
    unknown_invite_code = "unknown_invite_code"
    own_invite_code = "own_invite_code"


# Pydantic's own error types, as the codes above.
PYDANTIC_TYPES: dict[str, Reason] = {
    "missing": Reason.missing,
    "string_too_short": Reason.too_short,
    "too_short": Reason.too_short,
    "string_too_long": Reason.too_long,
    "too_long": Reason.too_long,
    "greater_than": Reason.too_small,
    "greater_than_equal": Reason.too_small,
    "less_than": Reason.too_large,
    "less_than_equal": Reason.too_large,
    "string_pattern_mismatch": Reason.bad_format,
    "enum": Reason.not_a_choice,
    "literal_error": Reason.not_a_choice,
    "int_parsing": Reason.not_a_number,
    "int_type": Reason.not_a_number,
    "float_parsing": Reason.not_a_number,
    "float_type": Reason.not_a_number,
    "decimal_parsing": Reason.not_a_number,
    "decimal_type": Reason.not_a_number,
    "finite_number": Reason.not_a_number,
    "int_from_float": Reason.not_a_whole_number,
    "int_parsing_size": Reason.out_of_range,
    "bool_parsing": Reason.not_a_boolean,
    "bool_type": Reason.not_a_boolean,
    "date_parsing": Reason.not_a_date,
    "date_type": Reason.not_a_date,
    "date_from_datetime_parsing": Reason.not_a_date,
    "date_from_datetime_inexact": Reason.not_a_date,
    "datetime_parsing": Reason.not_a_datetime,
    "datetime_type": Reason.not_a_datetime,
    "datetime_from_date_parsing": Reason.not_a_datetime,
    "timezone_aware": Reason.not_a_datetime,
    "string_type": Reason.wrong_type,
    "list_type": Reason.wrong_type,
    "dict_type": Reason.wrong_type,
    "model_type": Reason.wrong_type,
    "model_attributes_type": Reason.wrong_type,
    "extra_forbidden": Reason.unknown_field,
    "json_invalid": Reason.invalid_json,
}


def for_pydantic(error_type: str) -> Reason:
    """The code of one pydantic error: its own type when a validator raised
    `PydanticCustomError(<code>, ...)`, else the mapping above, else `invalid`."""
    if error_type in Reason.__members__:
        return Reason(error_type)
    return PYDANTIC_TYPES.get(error_type, Reason.invalid)
