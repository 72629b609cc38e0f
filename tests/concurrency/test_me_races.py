"""A member giving one coupon away twice at once through the member API, on PostgreSQL: it goes
to one friend, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from patron.core.security import issue_member_token
from patron.coupons.models import Coupon
from tests.concurrency.conftest import Api
from tests.concurrency.test_races import race
from tests.conftest import TEST_SECRET
from tests.factories import issue_coupon, make_coupon_template, make_member

FRIENDS = ("13911110002", "13911110003")


def test_one_coupon_given_to_two_friends_at_once_goes_to_one(api: Api) -> None:
    with api.factory.begin() as session:
        giver = make_member(session, mobile="13911110001")
        friends = [make_member(session, mobile=mobile).id for mobile in FRIENDS]
        gift = make_coupon_template(session, transferable=True)
        code = issue_coupon(session, gift, giver).code
        token = issue_member_token(TEST_SECRET, giver.id, timedelta(hours=1)).token

    def attempt(n: int) -> tuple[int, str]:
        response = api.client.post(
            f"/api/v1/me/coupons/{code}/transfer",
            json={"mobile": FRIENDS[n % 2]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"gift-{n}"},
        )
        answer = response.json()
        return int(response.status_code), "" if response.status_code == 201 else answer["code"]

    results = race(8, attempt)
    # A loser that waited on the winner's lock finds the coupon no longer available; one that
    # came after the winner's commit finds it is no longer theirs.
    assert [r for r in results if r[0] == 201] == [(201, "")], results
    losers = {r for r in results if r[0] != 201}
    assert losers <= {(409, "coupon_unavailable"), (404, "coupon_not_found")}, results
    with api.factory() as session:
        holder = session.scalar(select(Coupon.member_id).where(Coupon.code == code))
        assert holder in friends
